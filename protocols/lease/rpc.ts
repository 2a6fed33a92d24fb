import { seal } from '../codec/envelope.js'
import { silentLogger } from '../../store/logger.js'
import { LEASE_CALL_TIMEOUT_MS, LEASE_REQUEST, MAX_INFLIGHT_PER_PEER } from './constants.js'
import { InvalidLeaseMessageError, LeaseAbortedError, LeaseNotStartedError, LeaseTimeoutError, LeaseUnreachableError } from './errors.js'
import { openLeaseMessage } from './messages.js'
import { systemClock } from './types.js'
import type { Identity } from '../codec/keys.js'
import type { LeaseMessage, LeaseRequest } from './messages.js'
import type { LeaseClock, LeaseTransport } from './types.js'
import type { Logger } from '../../store/logger.js'

/** a request as a caller gives it: the RPC adds mesh, time and request id */
export type RequestBody =
  | Omit<Extract<LeaseRequest, { op: 'claim' }>, 'mesh' | 'at' | 'rid'>
  | Omit<Extract<LeaseRequest, { op: 'renew' | 'release' }>, 'mesh' | 'at' | 'rid'>
  | Omit<Extract<LeaseRequest, { op: 'finish' }>, 'mesh' | 'at' | 'rid'>

export type RequestHandler = (from: string, req: LeaseRequest) => Promise<Uint8Array>

export interface LeaseRpcComponents {
  identity: Identity
  mesh: string
  transport: LeaseTransport
  clock?: LeaseClock
  logger?: Logger
}

interface Pending {
  resolve: (m: LeaseMessage) => void
  reject: (err: Error) => void
}

/**
 * Requests and replies over a LeaseTransport: every message a signed envelope, replies matched
 * to requests by peer and request id, each request with its own deadline. A request to this
 * node itself is answered in-process. Malformed, unsigned, misaddressed and unexpected messages
 * are dropped and counted by reason.
 */
export class LeaseRpc {
  private readonly c: LeaseRpcComponents
  private readonly clock: LeaseClock
  private readonly log: Logger
  private readonly pending = new Map<string, Pending>()
  private readonly inflight = new Map<string, number>()
  private readonly drops = new Map<string, number>()
  private handler?: RequestHandler
  private nextId = 1

  constructor (components: LeaseRpcComponents) {
    this.c = components
    this.clock = components.clock ?? systemClock
    this.log = components.logger ?? silentLogger
    components.transport.onMessage((from, bytes) => { this.receive(from, bytes) })
  }

  get self (): string { return this.c.identity.id }

  /** serve requests with `handler` (the acceptor); until then requests are dropped */
  start (handler: RequestHandler): void {
    this.handler = handler
  }

  /** stop serving and fail every request still waiting for its reply */
  stop (): void {
    this.handler = undefined
    for (const p of this.pending.values()) p.reject(new LeaseAbortedError('the lease service stopped'))
    this.pending.clear()
  }

  dropped (): Record<string, number> {
    return Object.fromEntries(this.drops)
  }

  private drop (reason: string, from: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1)
    this.log.debug('lease message dropped', { reason, from })
  }

  /**
   * Send a request to `peer` and wait for its signed reply (verified, signed by `peer`).
   * Throws ERR_TIMEOUT after `timeoutMs`, ERR_ABORTED on the signal, ERR_LEASE_UNREACHABLE when
   * it cannot be sent.
   */
  async request (peer: string, body: RequestBody, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<LeaseMessage> {
    const handler = this.handler
    if (handler == null) throw new LeaseNotStartedError()
    const rid = this.nextId++
    const req = { ...body, mesh: this.c.mesh, at: this.clock.now(), rid } as LeaseRequest
    if (peer === this.self) return openLeaseMessage(await handler(peer, req))
    const bytes = seal(this.c.identity, LEASE_REQUEST, req).bytes
    const key = `${peer}/${rid}`
    const signal = options.signal
    if (signal?.aborted === true) throw new LeaseAbortedError('lease request aborted', { cause: signal.reason })
    return await new Promise<LeaseMessage>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => { done(new LeaseTimeoutError(`no lease reply from ${peer} in time`)) }, options.timeoutMs ?? LEASE_CALL_TIMEOUT_MS)
      const onAbort = (): void => { done(new LeaseAbortedError('lease request aborted', { cause: signal?.reason })) }
      const done = (err?: Error, m?: LeaseMessage): void => {
        if (this.pending.get(key) !== entry) return
        this.pending.delete(key)
        this.clock.clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (err != null) reject(err)
        else resolve(m!)
      }
      const entry: Pending = { resolve: m => { done(undefined, m) }, reject: err => { done(err) } }
      this.pending.set(key, entry)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.c.transport.send(peer, bytes, signal).catch(err => {
        done(new LeaseUnreachableError(`cannot send to ${peer}`, { cause: err }))
      })
    })
  }

  private receive (from: string, bytes: Uint8Array): void {
    let m: LeaseMessage
    try {
      m = openLeaseMessage(bytes)
    } catch (err) {
      this.drop(err instanceof InvalidLeaseMessageError ? err.reason : 'malformed', from)
      return
    }
    // the link authenticated the peer: a message signed by anyone else is not its own
    if (m.signer !== from) { this.drop('not-sender', from); return }
    if (m.payload.mesh !== this.c.mesh) { this.drop('wrong-mesh', from); return }
    if (m.type === LEASE_REQUEST) { this.serve(from, m.payload); return }
    const pending = this.pending.get(`${from}/${(m.payload as { re: number }).re}`)
    if (pending == null) { this.drop('unexpected-reply', from); return }
    pending.resolve(m)
  }

  private serve (from: string, req: LeaseRequest): void {
    const handler = this.handler
    if (handler == null) { this.drop('not-serving', from); return }
    const open = this.inflight.get(from) ?? 0
    if (open >= MAX_INFLIGHT_PER_PEER) { this.drop('busy', from); return }
    this.inflight.set(from, open + 1)
    handler(from, req)
      .then(async reply => { await this.c.transport.send(from, reply) })
      .catch(err => { this.log.warn('lease request failed', { from, op: req.op, err }) })
      .finally(() => {
        const n = (this.inflight.get(from) ?? 1) - 1
        if (n <= 0) this.inflight.delete(from)
        else this.inflight.set(from, n)
      })
  }
}
