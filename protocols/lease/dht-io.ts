import { LeaseAbortedError, LeaseTimeoutError, LeaseUnreachableError } from './errors.js'
import type { KadDHT } from '@libp2p/kad-dht'

/** the part of kad-dht the lease code uses */
export type LeaseDht = Pick<KadDHT, 'get' | 'put'>

/** what one DHT get returned: every record seen (local and remote, unchecked) and how many peers answered */
export interface DhtRead {
  records: Uint8Array[]
  responders: number
}

/** A signal that aborts with the first of `signals` or after `timeoutMs`; `clear()` frees its timer. */
export class Deadline {
  readonly signal: AbortSignal
  private readonly timer: ReturnType<typeof setTimeout>
  private readonly timeout = new AbortController()

  constructor (timeoutMs: number, signals: Array<AbortSignal | undefined>) {
    this.timer = setTimeout(() => { this.timeout.abort(new LeaseTimeoutError(`no answer within ${timeoutMs} ms`)) }, timeoutMs)
    this.signal = AbortSignal.any([this.timeout.signal, ...signals.filter((s): s is AbortSignal => s != null)])
  }

  /** true when the deadline (not a caller) aborted the signal */
  timedOut (): boolean {
    return this.timeout.signal.aborted && this.signal.reason === this.timeout.signal.reason
  }

  /** the typed error for the abort: ERR_TIMEOUT for the deadline, ERR_ABORTED otherwise */
  error (what: string, cause?: unknown): Error {
    if (this.timedOut()) return new LeaseTimeoutError(`${what}: no answer before the deadline`, { cause })
    return new LeaseAbortedError(`${what}: aborted`, { cause: this.signal.reason ?? cause })
  }

  clear (): void {
    clearTimeout(this.timer)
  }
}

/** kad-dht's ways of saying "no record": an empty query ends in one of these */
function isNotFound (err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name
  return err instanceof AggregateError || name === 'NotFoundError' || name === 'AggregateError'
}

/**
 * Get every record for `key`: this node's own (as kad-dht's VALUE, the selected best) and each
 * peer's answer. kad-dht itself keeps only the best record and throws when it fails to send a
 * correction to a peer, so the peers' answers are collected as they arrive and survive a late
 * failure. When the deadline passes after at least one peer answered, what arrived is returned.
 * No peer answering is an error: ERR_TIMEOUT at the deadline, else ERR_LEASE_UNREACHABLE.
 * A caller's abort throws ERR_ABORTED.
 */
export async function dhtGet (dht: LeaseDht, key: Uint8Array, deadline: Deadline): Promise<DhtRead> {
  const records: Uint8Array[] = []
  const responders = new Set<string>()
  try {
    for await (const evt of dht.get(key, { signal: deadline.signal })) {
      if (evt.name === 'VALUE') records.push(evt.value)
      else if (evt.name === 'PEER_RESPONSE' && evt.messageName === 'GET_VALUE') {
        responders.add(evt.from.toString())
        if (evt.record != null) records.push(evt.record.value)
      }
    }
  } catch (err) {
    if (deadline.signal.aborted) {
      if (!deadline.timedOut() || responders.size === 0) throw deadline.error('lease read', err)
    } else if (!isNotFound(err) && responders.size === 0) {
      throw new LeaseUnreachableError('lease read failed', { cause: err })
    }
  }
  if (responders.size === 0) {
    // kad-dht swallows a query's abort when its own shutdown raced ours
    if (deadline.signal.aborted) throw deadline.error('lease read')
    // this node's own record alone proves nothing about what the mesh selects
    throw new LeaseUnreachableError('no peer answered the lease read')
  }
  return { records, responders: responders.size }
}

/**
 * Put `value` under `key`: stored here first (unchecked, by kad-dht), then sent to the closest
 * peers. Returns how many peers accepted it; throws ERR_LEASE_UNREACHABLE when none did (every
 * validator refused it, or none answered), ERR_TIMEOUT / ERR_ABORTED when the deadline or the
 * caller stopped it before any peer accepted.
 */
export async function dhtPut (dht: LeaseDht, key: Uint8Array, value: Uint8Array, deadline: Deadline): Promise<number> {
  const accepted = new Set<string>()
  let refused = 0
  try {
    for await (const evt of dht.put(key, value, { signal: deadline.signal })) {
      if (evt.name === 'PEER_RESPONSE' && evt.messageName === 'PUT_VALUE') accepted.add(evt.from.toString())
      else if (evt.name === 'QUERY_ERROR') refused++
    }
  } catch (err) {
    if (accepted.size > 0 && deadline.timedOut()) return accepted.size
    if (deadline.signal.aborted) throw deadline.error('lease put', err)
    throw new LeaseUnreachableError('lease put failed', { cause: err })
  }
  if (accepted.size === 0) {
    if (deadline.signal.aborted) throw deadline.error('lease put')
    throw new LeaseUnreachableError(`no peer accepted the lease record (${refused} refused or failed)`)
  }
  return accepted.size
}
