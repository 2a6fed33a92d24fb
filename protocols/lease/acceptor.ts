import { ownBytes } from '../codec/bytes.js'
import { seal } from '../codec/envelope.js'
import { silentLogger } from '../../store/logger.js'
import { provenEpoch } from './certificate.js'
import { ACCEPTOR_CACHE_RECORDS, CLOCK_SKEW_MS, LEASE_GRANT, LEASE_REPLY, LEASE_TTL_MS, LEASE_VOTE, MAX_EPOCH_LEAP, SKEW_MARGIN_MS } from './constants.js'
import { systemClock } from './types.js'
import type { Identity } from '../codec/keys.js'
import type { BatchRequest, ClaimRequest, FinishRequest, Grant, LeaseItem, LeaseRefusal, LeaseRequest, Reply, Vote } from './messages.js'
import type { LeaseClock, VoteRecord, VoteStore } from './types.js'
import type { Logger } from '../../store/logger.js'

export interface LeaseAcceptorComponents {
  identity: Identity
  /** the mesh id every message must name */
  mesh: string
  votes: VoteStore
  /**
   * The job's acceptors as its announcement names them, or undefined for a job this node does
   * not know. `ann` is the announcement a claimant sent along, for a job not heard of yet: the
   * callee verifies and keeps it as it would a gossiped one.
   */
  lookup: (job: string, ann?: Uint8Array) => Promise<readonly string[] | undefined>
  /** whether a key may build (claim and hold leases) */
  isBuilder: (peer: string) => boolean
  clock?: LeaseClock
  logger?: Logger
}

export interface LeaseAcceptorInit {
  /** default SKEW_MARGIN_MS */
  marginMs?: number
  /** default CLOCK_SKEW_MS */
  skewMs?: number
  /**
   * vote records kept in memory (default ACCEPTOR_CACHE_RECORDS); released and decided ones are
   * dropped first, the least recently used first
   */
  cacheSize?: number
}

/** a vote record with the TTL its holder asked for (for a record read back after a restart) */
type State = VoteRecord & { ttl?: number }

/**
 * One node's part as an acceptor of job leases. Per (job, epoch) it grants at most one claimant;
 * it grants epoch e+1 only after e was released, or expired by its own clock plus the margin.
 * Deciding a job's result is single-decree Paxos with the epochs as ballots: a grant promises to
 * accept no result of an earlier epoch and names the result accepted so far (which the claimant
 * must then propose instead of running the job again), and the holder of an epoch proposes one
 * result for it. Grants, releases and votes are stored (VoteStore) before the answer goes out. Renewals are kept in memory
 * only: a record read back after a restart counts as renewed at that moment, so a restarted
 * acceptor never frees a lease early. See docs/protocols/lease.md.
 */
export class LeaseAcceptor {
  private readonly c: LeaseAcceptorComponents
  private readonly clock: LeaseClock
  private readonly log: Logger
  private readonly marginMs: number
  private readonly skewMs: number
  private readonly cacheSize: number
  private readonly cache = new Map<string, State>()
  private readonly chains = new Map<string, Promise<unknown>>()
  private readonly refusals = new Map<string, number>()
  private granted = 0
  private votedCount = 0

  constructor (components: LeaseAcceptorComponents, init: LeaseAcceptorInit = {}) {
    this.c = components
    this.clock = components.clock ?? systemClock
    this.log = components.logger ?? silentLogger
    this.marginMs = init.marginMs ?? SKEW_MARGIN_MS
    this.skewMs = init.skewMs ?? CLOCK_SKEW_MS
    this.cacheSize = init.cacheSize ?? ACCEPTOR_CACHE_RECORDS
    if (!Number.isSafeInteger(this.cacheSize) || this.cacheSize < 1) throw new RangeError('cacheSize must be a whole number ≥ 1')
  }

  stats (): { granted: number, voted: number, refused: Record<string, number>, cached: number } {
    return { granted: this.granted, voted: this.votedCount, refused: Object.fromEntries(this.refusals), cached: this.cache.size }
  }

  /** Answer one verified request from `from`: the signed reply's bytes. Never throws for bad input. */
  async handle (from: string, req: LeaseRequest): Promise<Uint8Array> {
    if (req.mesh !== this.c.mesh) return this.refuse(req.rid, 'wrong-mesh')
    switch (req.op) {
      case 'claim': {
        const t = performance.now()
        const reply = await this.serialised(req.job, async () => await this.claim(from, req))
        // where a dispatch's claim goes (docs/benchmarks.md): the acceptor's share of the round trip
        this.log.debug('lease claim answered', { job: req.job, ms: Math.round(performance.now() - t), sentMsAgo: this.clock.now() - req.at })
        return reply
      }
      case 'finish': return await this.serialised(req.job, async () => await this.finish(from, req))
      default: return await this.batch(from, req)
    }
  }

  private async claim (from: string, req: ClaimRequest): Promise<Uint8Array> {
    const acceptors = await this.c.lookup(req.job, req.ann)
    if (acceptors == null) return this.refuse(req.rid, 'unknown-job', { job: req.job })
    if (!acceptors.includes(this.c.identity.id)) return this.refuse(req.rid, 'not-acceptor', { job: req.job })
    if (!this.c.isBuilder(from)) return this.refuse(req.rid, 'not-builder', { job: req.job })
    const now = this.clock.now()
    if (Math.abs(req.at - now) > this.skewMs) return this.refuse(req.rid, 'skew', { job: req.job })
    const s = await this.load(req.job)
    const here = { job: req.job, epoch: s.epoch, holder: s.holder || undefined }
    if (req.epoch < s.epoch) return this.refuse(req.rid, 'stale', here)
    if (req.epoch === s.epoch) {
      // the same claim again (a duplicate, or a retry whose grant was lost): the same answer
      if (s.holder !== from || s.released) return this.refuse(req.rid, 'stale', here)
      s.expiresAt = Math.max(s.expiresAt, now + req.ttl)
      // a retry: the grant now answers it, so a release of the failed attempt still on its way
      // (sent before this claim) must not free it
      if (sentAfter(req, s.grantedFor)) await this.store(req.job, { ...s, grantedFor: { at: req.at, rid: req.rid } })
      return this.grant(req, from, now, s)
    }
    if (req.epoch !== s.epoch + 1) {
      // epochs grow one grant at a time: a claim further ahead needs an acceptor's word for the one before
      if (req.proof == null) return this.refuse(req.rid, 'bad-epoch', here)
      const proven = provenEpoch(req.proof, { mesh: this.c.mesh, job: req.job, acceptors })
      if (proven == null) return this.refuse(req.rid, 'bad-proof', here)
      if (req.epoch !== proven + 1) return this.refuse(req.rid, 'bad-epoch', here)
      // one acceptor's word moves another a bounded way: a key that signs a huge epoch cannot park the job there
      if (req.epoch > s.epoch + MAX_EPOCH_LEAP) return this.refuse(req.rid, 'bad-epoch', here)
    }
    // a holder that claims past its own live lease (it restarted and lost the run) supersedes itself
    if (s.epoch > 0 && !s.released && s.holder !== from && now <= s.expiresAt + this.marginMs) {
      return this.refuse(req.rid, 'held', { ...here, waitMs: s.expiresAt + this.marginMs - now })
    }
    const next: State = { epoch: req.epoch, holder: from, expiresAt: now + req.ttl, released: false, ttl: req.ttl, grantedFor: { at: req.at, rid: req.rid }, accepted: s.accepted }
    await this.store(req.job, next)
    this.granted++
    return this.grant(req, from, now, next)
  }

  /** a grant is also a promise to accept no result at an earlier epoch; it names the result accepted so far */
  private grant (req: ClaimRequest, holder: string, now: number, s: State): Uint8Array {
    const g: Grant = { mesh: this.c.mesh, at: now, re: req.rid, job: req.job, epoch: req.epoch, holder, ttl: req.ttl }
    if (s.accepted != null) {
      g.accepted = { epoch: s.accepted.epoch, holder: s.accepted.holder, outcome: s.accepted.outcome }
      if (s.accepted.content != null) g.content = s.accepted.content
    }
    return seal(this.c.identity, LEASE_GRANT, g).bytes
  }

  private async finish (from: string, req: FinishRequest): Promise<Uint8Array> {
    const s = await this.load(req.job)
    const a = s.accepted
    if (a != null && a.epoch === req.epoch) {
      // the holder of a ballot proposes one result: the same again gets the same vote
      if (s.holder === from && a.holder === req.holder && a.outcome === req.outcome) return this.vote(req)
      return this.refuse(req.rid, 'not-holder', { job: req.job, epoch: s.epoch, holder: s.holder || undefined })
    }
    // only the holder of the epoch this acceptor is at may propose, and only while it holds it
    // here (an expired lease still may: nobody was granted a later epoch here yet)
    if (s.epoch !== req.epoch || s.holder !== from || s.released) {
      return this.refuse(req.rid, req.epoch < s.epoch ? 'stale' : 'not-holder', { job: req.job, epoch: s.epoch, holder: s.holder || undefined })
    }
    // the content is a view into the request's frame: kept as it is, it would keep the frame
    await this.store(req.job, { ...s, accepted: { epoch: req.epoch, holder: req.holder, outcome: req.outcome, content: req.content == null ? undefined : ownBytes(req.content) } })
    this.votedCount++
    return this.vote(req)
  }

  private vote (req: FinishRequest): Uint8Array {
    const v: Vote = { mesh: this.c.mesh, at: this.clock.now(), re: req.rid, job: req.job, epoch: req.epoch, holder: req.holder, outcome: req.outcome }
    return seal(this.c.identity, LEASE_VOTE, v).bytes
  }

  /** renewals and releases: one answer for all items, listing those the sender no longer holds here */
  private async batch (from: string, req: BatchRequest): Promise<Uint8Array> {
    const lost: LeaseItem[] = []
    for (const item of req.items) {
      const ok = await this.serialised(item.job, async () => {
        const s = await this.load(item.job)
        if (s.epoch !== item.epoch || s.holder !== from || s.released) return false
        if (req.op === 'renew') {
          s.expiresAt = Math.max(s.expiresAt, this.clock.now() + (s.ttl ?? LEASE_TTL_MS))
        } else if (sentAfter(req, s.grantedFor)) {
          await this.store(item.job, { ...s, released: true })
        }
        // else: a release sent before the claim this grant answers gives up a failed attempt at
        // the same epoch, not the lease its retry now holds
        return true
      })
      if (!ok) lost.push(item)
    }
    const r: Reply = { mesh: this.c.mesh, at: this.clock.now(), re: req.rid, ok: true }
    if (lost.length > 0) r.lost = lost
    return seal(this.c.identity, LEASE_REPLY, r).bytes
  }

  private refuse (re: number, reason: LeaseRefusal, extra: Partial<Reply> = {}): Uint8Array {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1)
    this.log.debug('lease request refused', { reason, job: extra.job, epoch: extra.epoch })
    const r: Reply = { mesh: this.c.mesh, at: this.clock.now(), re, ok: false, reason }
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) (r as unknown as Record<string, unknown>)[k] = v
    return seal(this.c.identity, LEASE_REPLY, r).bytes
  }

  /** the job's record: from memory, else from the store (counted as renewed now), else empty */
  private async load (job: string): Promise<State> {
    const cached = this.cache.get(job)
    if (cached != null) {
      // the newest again: a record in use is the last to go (one read back counts as renewed, so
      // evicting a live lease would keep its next claimant waiting)
      this.cache.delete(job)
      this.cache.set(job, cached)
      return cached
    }
    const stored = await this.c.votes.get(job) as State | undefined
    const s: State = stored ?? { epoch: 0, holder: '', expiresAt: 0, released: true }
    if (stored != null && !s.released) {
      s.expiresAt = Math.max(s.expiresAt, this.clock.now() + (s.ttl ?? LEASE_TTL_MS))
    }
    this.remember(job, s)
    return s
  }

  private async store (job: string, s: State): Promise<void> {
    await this.c.votes.put(job, s)
    this.remember(job, s)
  }

  /**
   * Keep `s` in memory, as the newest. Beyond `cacheSize` records, the oldest go: released and
   * decided ones first (nothing renews them), then any. Dropping a record is safe: everything but
   * renewals is in the vote store before an answer goes out, and a record read back counts as
   * renewed at that moment (`load`), later than any renewal it had here, so no lease is ever freed
   * early; a lapsed lease read back costs its next claimant one more TTL.
   */
  private remember (job: string, s: State): void {
    this.cache.delete(job)
    this.cache.set(job, s)
    if (this.cache.size <= this.cacheSize) return
    for (const [k, v] of this.cache) {
      if (this.cache.size <= this.cacheSize) return
      if (k !== job && (v.released || v.accepted != null)) this.cache.delete(k)
    }
    for (const k of this.cache.keys()) {
      if (this.cache.size <= this.cacheSize) return
      if (k !== job) this.cache.delete(k)
    }
  }

  private async serialised<T> (job: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(job) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    this.chains.set(job, next)
    try {
      return await next
    } finally {
      if (this.chains.get(job) === next) this.chains.delete(job)
    }
  }
}

/**
 * Whether `req` was sent after the claim `grantedFor` names, by the sender's clock and, within
 * one millisecond, its request ids (which grow within a process; a restart takes longer than a
 * millisecond). Clocks that run at bounded rates never go back, as the lease assumes anyway.
 */
function sentAfter (req: { at: number, rid: number }, grantedFor: VoteRecord['grantedFor']): boolean {
  return grantedFor == null || req.at > grantedFor.at || (req.at === grantedFor.at && req.rid > grantedFor.rid)
}
