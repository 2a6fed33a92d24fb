import type { Logger } from '../../store/logger.js'

/**
 * Time as the lease code sees it: injected so that tests (and a simulator of many nodes) can run
 * the real protocol code in virtual time.
 */
export interface LeaseClock {
  /** ms since the epoch */
  now: () => number
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

/** the machine's clock and timers; timers do not keep the process alive */
export const systemClock: LeaseClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref?.()
    return t
  },
  clearTimeout: handle => { clearTimeout(handle as ReturnType<typeof setTimeout>) }
}

/** what an acceptor remembers of one job */
export interface VoteRecord {
  /** the highest epoch granted here (0: none yet) */
  epoch: number
  /** who holds `epoch` here */
  holder: string
  /** until when `epoch` holds, by this acceptor's clock (renewals are not persisted: see LeaseAcceptor) */
  expiresAt: number
  /** the holder gave `epoch` up */
  released: boolean
  /**
   * The claim the grant of `epoch` answers: its signing time (the holder's clock) and request id.
   * A release the holder sent before it comes from an earlier, failed attempt at the same epoch
   * and is ignored. Absent in records written before it existed.
   */
  grantedFor?: { at: number, rid: number }
  /** the result this acceptor voted for, at ballot `epoch` (a later ballot may replace it) */
  accepted?: { epoch: number, holder: string, outcome: string, content?: Uint8Array }
}

/** where an acceptor keeps its votes so that a restart does not forget them */
export interface VoteStore {
  get: (job: string) => Promise<VoteRecord | undefined>
  /** must be durable when it resolves: the grant or vote is sent only after it */
  put: (job: string, record: VoteRecord) => Promise<void>
}

/** votes kept in memory only (tests, the model); a real node keeps them in LevelDB */
export class MemoryVoteStore implements VoteStore {
  readonly records = new Map<string, VoteRecord>()
  async get (job: string): Promise<VoteRecord | undefined> {
    const r = this.records.get(job)
    return r == null ? undefined : { ...r, accepted: r.accepted == null ? undefined : { ...r.accepted } }
  }

  async put (job: string, record: VoteRecord): Promise<void> {
    this.records.set(job, { ...record, accepted: record.accepted == null ? undefined : { ...record.accepted } })
  }
}

/**
 * How lease messages travel: whole signed envelopes to and from peers by id. The libp2p
 * implementation keeps one long-lived stream per pair of members (`LeaseLinks`); tests and the
 * model use `MemoryNetwork`.
 */
export interface LeaseTransport {
  /** hand `bytes` to the link to `peer`; rejects when it cannot be sent */
  send: (peer: string, bytes: Uint8Array, signal?: AbortSignal) => Promise<void>
  /** the receiver of every message from any peer */
  onMessage: (handler: (from: string, bytes: Uint8Array) => void) => void
}

export interface LeaseComponentsBase {
  logger?: Logger
  clock?: LeaseClock
}
