import { setMaxListeners } from 'node:events'
import { linkedSignal } from '../codec/signals.js'
import { silentLogger } from '../../store/logger.js'
import { majority } from './acceptors.js'
import {
  FINISH_RETRY_MS, FINISH_TIMEOUT_MS, LEASE_CALL_TIMEOUT_MS, LEASE_GRANT, LEASE_TTL_MS, LEASE_VOTE, RENEW_EVERY_MS, SKEW_MARGIN_MS
} from './constants.js'
import { InvalidLeaseArgumentError, LeaseAbortedError, LeaseNotStartedError } from './errors.js'
import { isJobId } from './messages.js'
import { systemClock } from './types.js'
import type { Grant, LeaseItem, LeaseMessage, Reply } from './messages.js'
import type { LeaseRpc } from './rpc.js'
import type { LeaseClock } from './types.js'
import type { Logger } from '../../store/logger.js'

export interface LeaseClaimantComponents {
  rpc: LeaseRpc
  clock?: LeaseClock
  logger?: Logger
}

export interface LeaseClaimantInit {
  ttlMs?: number
  renewEveryMs?: number
  marginMs?: number
  callTimeoutMs?: number
  finishTimeoutMs?: number
}

export interface ClaimArgs {
  job: string
  /** the job's acceptors, as its announcement names them */
  acceptors: readonly string[]
  /** the epoch to claim: the last one this node knows of + 1 */
  epoch: number
  /** an acceptor's signed word for `epoch - 1` (see `provenEpoch`) */
  proof?: Uint8Array
  /** the job's announcement, for acceptors that have not heard of it yet */
  ann?: Uint8Array
  signal?: AbortSignal
}

/** a result an acceptor had accepted before: the claimant proposes it instead of running the job */
export interface Adopted { epoch: number, holder: string, outcome: string, content?: Uint8Array }

export type ClaimOutcome =
  | {
    ok: true
    epoch: number
    grants: Uint8Array[]
    /** a result accepted at an earlier epoch by an acceptor of the majority: finish with it, do not run */
    adopt?: Adopted
  }
  | {
    ok: false
    /** `held`, `stale`, `unreachable`, `split` (no majority either way) or an acceptor's refusal */
    reason: string
    /** the highest epoch an acceptor answered with, its holder, and that acceptor's signed answer (a proof to claim past it) */
    epoch?: number
    holder?: string
    proof?: Uint8Array
    /** how long the current holder's lease still runs at the acceptor that said so */
    waitMs?: number
  }

export type FinishOutcome = { ok: true, votes: Uint8Array[] } | { ok: false, reason: 'lost' | 'unreachable' | 'aborted', holder?: string }

interface Held {
  job: string
  epoch: number
  acceptors: readonly string[]
  /** per acceptor, when the newest request it confirmed was sent (this node's clock) */
  acks: Map<string, number>
  /** acceptors that said the lease is no longer this node's */
  lost: Set<string>
  /** the claim call that won it */
  attempt: number
  onLost?: (reason: 'lost' | 'expired') => void
}

/**
 * A node's part as a claimant: claims a job at the majority of its acceptors in one round trip,
 * keeps every lease it holds alive with one renewal per acceptor per period, knows how long each
 * lease surely holds (by its own clock, from the send times of the requests a majority
 * confirmed), releases leases, and gathers the acceptors' votes for a finished run.
 */
export class LeaseClaimant {
  private readonly rpc: LeaseRpc
  private readonly clock: LeaseClock
  private readonly log: Logger
  private readonly ttlMs: number
  private readonly renewEveryMs: number
  private readonly marginMs: number
  private readonly callTimeoutMs: number
  private readonly finishTimeoutMs: number
  private readonly held = new Map<string, Held>()
  /** claim calls under way, per `job/epoch` */
  private readonly claiming = new Map<string, number>()
  private attempts = 0
  private controller?: AbortController
  private timer?: unknown
  private lastRenew = 0

  constructor (components: LeaseClaimantComponents, init: LeaseClaimantInit = {}) {
    this.rpc = components.rpc
    this.clock = components.clock ?? systemClock
    this.log = components.logger ?? silentLogger
    this.ttlMs = init.ttlMs ?? LEASE_TTL_MS
    this.renewEveryMs = init.renewEveryMs ?? Math.min(RENEW_EVERY_MS, Math.floor(this.ttlMs / 3))
    this.marginMs = init.marginMs ?? Math.min(SKEW_MARGIN_MS, Math.floor(this.ttlMs / 5))
    this.callTimeoutMs = init.callTimeoutMs ?? LEASE_CALL_TIMEOUT_MS
    this.finishTimeoutMs = init.finishTimeoutMs ?? FINISH_TIMEOUT_MS
  }

  start (): void {
    if (this.controller != null) return
    this.controller = new AbortController()
    // every call in flight listens to it
    setMaxListeners(Infinity, this.controller.signal)
    this.schedule()
  }

  /** stop renewing (held leases lapse at their expiry) and abort every call in flight */
  stop (): void {
    const c = this.controller
    if (c == null) return
    this.controller = undefined
    this.clock.clearTimeout(this.timer)
    c.abort(new LeaseAbortedError('the lease service stopped'))
    this.held.clear()
  }

  /** jobs this node holds a lease of, with their epochs */
  holding (): LeaseItem[] {
    return [...this.held.values()].map(h => ({ job: h.job, epoch: h.epoch }))
  }

  /** whether this node's lease of `job` at `epoch` surely holds now (a majority confirmed it within the TTL) */
  holds (job: string, epoch: number): boolean {
    const h = this.held.get(job)
    return h != null && h.epoch === epoch && this.clock.now() < this.validUntil(h)
  }

  /** call `onLost` once when the lease is lost (a majority says so) or lapses (renewals failed) */
  watch (job: string, epoch: number, onLost: (reason: 'lost' | 'expired') => void): void {
    const h = this.held.get(job)
    if (h != null && h.epoch === epoch) h.onLost = onLost
    else onLost('lost')
  }

  /** Claim `job` at `args.epoch`: ok once a majority of its acceptors granted it. */
  async claim (args: ClaimArgs): Promise<ClaimOutcome> {
    const stop = this.running()
    if (!isJobId(args.job)) throw new InvalidLeaseArgumentError('job id must be 64 lowercase hex digits')
    if (args.acceptors.length === 0) throw new InvalidLeaseArgumentError('a job needs at least one acceptor')
    // let go of the service's signal once every request is answered (AbortSignal.any would keep a WeakRef on it for good)
    const link = linkedSignal([stop, args.signal])
    const signal = link.signal
    const need = majority(args.acceptors.length)
    const grants = new Map<string, { bytes: Uint8Array, sentAt: number, accepted?: Adopted }>()
    const refusals: LeaseMessage[] = []
    const attempt = ++this.attempts
    const key = `${args.job}/${args.epoch}`
    this.claiming.set(key, (this.claiming.get(key) ?? 0) + 1)
    let settled = false
    let answered = 0
    return await new Promise<ClaimOutcome>(resolve => {
      const finish = (): void => {
        if (settled) return
        if (grants.size >= need) {
          settled = true
          this.settle(key)
          this.hold(args, grants, attempt)
          // Paxos: of the results the majority accepted before, the one of the highest epoch
          const adopt = [...grants.values()].map(g => g.accepted).filter((a): a is Adopted => a != null).sort((a, b) => b.epoch - a.epoch)[0]
          resolve({ ok: true, epoch: args.epoch, grants: [...grants.values()].map(g => g.bytes), ...(adopt != null ? { adopt } : {}) })
        } else if (answered === args.acceptors.length || args.acceptors.length - answered + grants.size < need) {
          settled = true
          this.settle(key)
          // give back what was granted, and what may yet be granted: a request that timed out
          // may have been granted all the same (a release of what is not ours changes nothing)
          const refusedBy = new Set(refusals.map(m => m.signer))
          this.releaseTo(args.job, args.epoch, args.acceptors.filter(a => !refusedBy.has(a)))
          resolve(this.failure(refusals, grants.size))
        }
      }
      for (const acceptor of args.acceptors) {
        const sentAt = this.clock.now()
        this.rpc.request(acceptor, { op: 'claim', job: args.job, epoch: args.epoch, ttl: this.ttlMs, proof: args.proof, ann: args.ann }, { signal, timeoutMs: this.callTimeoutMs })
          .then(m => {
            const p = m.payload as Partial<Grant>
            if (m.type === LEASE_GRANT && p.job === args.job && p.epoch === args.epoch && p.holder === this.rpc.self) {
              const accepted = p.accepted != null ? { ...p.accepted, content: p.content } : undefined
              if (settled) this.lateGrant(args, acceptor, sentAt, attempt)
              else grants.set(acceptor, { bytes: m.bytes, sentAt, accepted })
            } else if (m.type !== LEASE_GRANT) {
              refusals.push(m)
            }
          }, () => {})
          .finally(() => {
            answered++
            finish()
            if (answered === args.acceptors.length) link.dispose()
          })
      }
    })
  }

  private settle (key: string): void {
    const n = (this.claiming.get(key) ?? 1) - 1
    if (n <= 0) this.claiming.delete(key)
    else this.claiming.set(key, n)
  }

  /**
   * A grant that came after its claim was decided: an ack of the lease that claim won, else given
   * back. Not while this epoch is held or claimed again by another call: the failed attempt
   * already released it, the acceptor may have granted the retry since, and a release sent now
   * would free that (and an old grant is no ack of the retry's lease).
   */
  private lateGrant (args: ClaimArgs, acceptor: string, sentAt: number, attempt: number): void {
    const h = this.held.get(args.job)
    if (h != null && h.epoch === args.epoch) {
      if (h.attempt === attempt) h.acks.set(acceptor, sentAt)
      return
    }
    if (this.claiming.has(`${args.job}/${args.epoch}`)) return
    this.releaseTo(args.job, args.epoch, [acceptor])
  }

  private hold (args: ClaimArgs, grants: Map<string, { sentAt: number }>, attempt: number): void {
    const acks = new Map([...grants].map(([a, g]) => [a, g.sentAt]))
    this.held.set(args.job, { job: args.job, epoch: args.epoch, acceptors: args.acceptors, acks, lost: new Set(), attempt })
  }

  /** the most useful thing to tell a claimant that did not get a majority */
  private failure (refusals: LeaseMessage[], granted: number): ClaimOutcome {
    const replies = refusals.map(m => ({ m, p: m.payload as Reply }))
    const top = replies.filter(r => r.p.epoch != null).sort((a, b) => (b.p.epoch ?? 0) - (a.p.epoch ?? 0))[0]
    const held = replies.find(r => r.p.reason === 'held')
    const reason = replies.length === 0 ? 'unreachable' : held != null ? 'held' : granted > 0 ? 'split' : replies[0].p.reason ?? 'refused'
    return { ok: false, reason, epoch: top?.p.epoch, holder: top?.p.holder, proof: top?.m.bytes, waitMs: held?.p.waitMs }
  }

  /** Give up a lease: the acceptors may grant the next epoch at once. Best effort; it lapses anyway. */
  async release (job: string, epoch: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const h = this.held.get(job)
    if (h == null || h.epoch !== epoch) return
    this.held.delete(job)
    await this.sendBatch('release', h.acceptors.map(a => ({ acceptor: a, items: [{ job, epoch }] })), options.signal)
  }

  private releaseTo (job: string, epoch: number, acceptors: string[]): void {
    if (acceptors.length === 0 || this.controller == null) return
    void this.sendBatch('release', acceptors.map(a => ({ acceptor: a, items: [{ job, epoch }] })))
  }

  /**
   * Ask the acceptors to decide the job's result: this node's run at `epoch` with `outcome`, or
   * the result `claim` told it to adopt (`value`). Ok with a majority of votes (the finish
   * certificate), `lost` when a majority refused, `unreachable` when neither came within the
   * finish timeout. The lease stays renewed meanwhile and ends with this call.
   */
  async finish (job: string, epoch: number, value: { outcome: string, holder?: string, content?: Uint8Array }, options: { signal?: AbortSignal } = {}): Promise<FinishOutcome> {
    const { outcome, content } = value
    const holder = value.holder ?? this.rpc.self
    const stop = this.running()
    const h = this.held.get(job)
    if (h == null || h.epoch !== epoch) return { ok: false, reason: 'lost' }
    const link = linkedSignal([stop, options.signal])
    const signal = link.signal
    const need = majority(h.acceptors.length)
    const votes = new Map<string, Uint8Array>()
    const refused = new Map<string, string | undefined>()
    const deadline = this.clock.now() + this.finishTimeoutMs
    try {
      while (!signal.aborted) {
        const asking = h.acceptors.filter(a => !votes.has(a) && !refused.has(a))
        await Promise.all(asking.map(async a => {
          const m = await this.rpc.request(a, { op: 'finish', job, epoch, holder, outcome, content }, { signal, timeoutMs: this.callTimeoutMs }).catch(() => undefined)
          if (m?.type === LEASE_VOTE) votes.set(a, m.bytes)
          else if (m != null) refused.set(a, (m.payload as Reply).holder)
        }))
        if (votes.size >= need) return { ok: true, votes: [...votes.values()] }
        if (refused.size > h.acceptors.length - need) return { ok: false, reason: 'lost', holder: [...refused.values()].find(x => x != null && x !== this.rpc.self) }
        if (this.clock.now() >= deadline) return { ok: false, reason: 'unreachable' }
        await this.sleep(FINISH_RETRY_MS, signal)
      }
      return { ok: false, reason: 'aborted' }
    } finally {
      link.dispose()
      if (this.held.get(job) === h) this.held.delete(job)
    }
  }

  private async sleep (ms: number, signal: AbortSignal): Promise<void> {
    await new Promise<void>(resolve => {
      const t = this.clock.setTimeout(() => { signal.removeEventListener('abort', done); resolve() }, ms)
      const done = (): void => { this.clock.clearTimeout(t); resolve() }
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /** the k-th newest confirmation (k = majority) + TTL − margin: until then a majority surely holds it */
  private validUntil (h: Held): number {
    const need = majority(h.acceptors.length)
    const acks = [...h.acks.values()].sort((a, b) => b - a)
    return acks.length < need ? -Infinity : acks[need - 1] + this.ttlMs - this.marginMs
  }

  private schedule (): void {
    if (this.controller == null) return
    this.timer = this.clock.setTimeout(() => { this.tick() }, Math.min(1000, this.renewEveryMs))
  }

  /** check every held lease; send the renewals when their period has come */
  private tick (): void {
    if (this.controller == null) return
    const now = this.clock.now()
    for (const h of [...this.held.values()]) {
      if (now >= this.validUntil(h)) this.lose(h, 'expired')
    }
    if (now - this.lastRenew >= this.renewEveryMs && this.held.size > 0) {
      this.lastRenew = now
      const byAcceptor = new Map<string, LeaseItem[]>()
      for (const h of this.held.values()) {
        for (const a of h.acceptors) {
          const list = byAcceptor.get(a) ?? []
          list.push({ job: h.job, epoch: h.epoch })
          byAcceptor.set(a, list)
        }
      }
      void this.sendBatch('renew', [...byAcceptor].map(([acceptor, items]) => ({ acceptor, items })))
    }
    this.schedule()
  }

  private lose (h: Held, reason: 'lost' | 'expired'): void {
    if (this.held.get(h.job) !== h) return
    this.held.delete(h.job)
    this.log.info('lease lost', { job: h.job, epoch: h.epoch, reason })
    try {
      h.onLost?.(reason)
    } catch (err) {
      this.log.error('lease onLost callback threw', { job: h.job, err })
    }
  }

  /** one renewal or release per acceptor, for all its items; renewals' answers update the acks */
  private async sendBatch (op: 'renew' | 'release', batches: Array<{ acceptor: string, items: LeaseItem[] }>, signal?: AbortSignal): Promise<void> {
    const stop = this.controller?.signal
    if (stop == null) return
    const link = linkedSignal([stop, signal])
    const s = link.signal
    await Promise.all(batches.map(async ({ acceptor, items }) => {
      const sentAt = this.clock.now()
      try {
        const m = await this.rpc.request(acceptor, { op, items }, { signal: s, timeoutMs: this.callTimeoutMs })
        const reply = m.payload as Reply
        if (op === 'renew' && reply.ok) this.renewed(acceptor, items, reply.lost ?? [], sentAt)
      } catch (err) {
        this.log.debug(`lease ${op} unanswered`, { acceptor, err })
      }
    })).finally(() => { link.dispose() })
  }

  private renewed (acceptor: string, items: LeaseItem[], lost: LeaseItem[], sentAt: number): void {
    const gone = new Set(lost.map(i => `${i.job}/${i.epoch}`))
    for (const item of items) {
      const h = this.held.get(item.job)
      if (h == null || h.epoch !== item.epoch) continue
      if (gone.has(`${item.job}/${item.epoch}`)) {
        h.lost.add(acceptor)
        h.acks.delete(acceptor)
        if (h.lost.size > h.acceptors.length - majority(h.acceptors.length)) this.lose(h, 'lost')
      } else {
        h.acks.set(acceptor, Math.max(h.acks.get(acceptor) ?? 0, sentAt))
      }
    }
  }

  private running (): AbortSignal {
    const c = this.controller
    if (c == null) throw new LeaseNotStartedError()
    return c.signal
  }
}
