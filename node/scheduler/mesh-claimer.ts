import { isFinal } from '../../protocols/job/records.js'
import { rank, refusal } from './admission.js'
import type { Claimer, ClaimResult } from './claimer.js'
import type { Offer } from './admission.js'
import type { JobRow } from '../jobs/types.js'
import type { LeaseManager, LeasePayload } from '../../protocols/lease/index.js'
import type { PeerTable } from '../mesh/peer-table.js'
import type { Logger } from '../../store/logger.js'

/** delay between the attempts of nodes of consecutive rank */
export const STAGGER_MS = 150
/** a report older than this does not count as an offer (several missed report intervals) */
export const OFFER_MAX_AGE_MS = 10_000
/** an executor silent (no load report) for this long, or whose reports stop listing the job, is presumed gone */
export const EXECUTOR_SILENT_MS = 20_000
/**
 * A job that looks queued here but whose lease shows a claim this node never heard of was claimed
 * (and maybe finished) while this node was down or cut off: its events are on their way by sync.
 * It is left alone until that claim lapsed this long ago and this node has been up this long
 * (the chaos suite saw restarted nodes run finished jobs again). Past that, the claimer is
 * presumed to have died before it could tell anyone, and the job is claimed over it.
 */
export const UNSEEN_CLAIM_GRACE_MS = 30_000
/**
 * A daemon that has just started claims nothing until it has pulled a member's records once (sync
 * on connect), or for at most this long: what looks queued to it may have been claimed and
 * finished while it was down, and the events that say so come with that first pull.
 */
export const CATCH_UP_MAX_MS = 15_000

export interface MeshClaimerComponents {
  self: string
  leases: LeaseManager
  peers: PeerTable
  /** the offer this node would make now */
  ownOffer: () => Offer
  canBuild: (peerId: string) => boolean
  /** why this node must not take the job whatever its load (a node without a sandbox: isolation.ts), or undefined */
  refuse?: (row: JobRow) => string | undefined
  /**
   * whether this node may take the job without a lease: no other member could ever claim it
   * (it is the only member, or the job has reached no peer yet)
   */
  alone: (row: JobRow) => boolean
  /** whether this daemon has caught up with a member's records since it started (see CATCH_UP_MAX_MS) */
  caughtUp: () => boolean
  logger: Logger
  now?: () => number
}

/**
 * Claiming in a mesh: a node that admits the job waits for its rank among the nodes that would
 * admit it (STAGGER_MS per rank) and then claims a lease in the DHT. The lease's epoch fences the
 * results: an executor that lost its lease does not publish one, and peers keep the result of
 * the highest epoch.
 */
export class MeshClaimer implements Claimer {
  private readonly now: () => number
  /** jobs claimed without a lease (see `alone`) */
  private readonly local = new Set<string>()

  /** when this claimer (the daemon) started */
  private readonly since: number

  constructor (private readonly c: MeshClaimerComponents) {
    this.now = c.now ?? Date.now
    this.since = this.now()
  }

  /** offers of every node heard from recently, with this node's own offer fresh (what `show` explains a wait by) */
  offers (): Offer[] {
    return this.heard(this.c.ownOffer())
  }

  /**
   * Offers as every node has heard them: this node's own last published report rather than its
   * state this instant. Ranking from these gives every node the same order; ranking itself
   * fresh against the others' reports made each node see itself as the lightest (its load and
   * free slots are newer than theirs), and two nodes claimed at the same moment.
   */
  publishedOffers (canBuild = this.c.ownOffer().canBuild): Offer[] {
    const own = this.c.peers.get(this.c.self)
    return this.heard(own != null ? { report: own.report, canBuild } : undefined)
  }

  /** `own` (if any), then the other nodes' reports received within OFFER_MAX_AGE_MS */
  private heard (own: Offer | undefined): Offer[] {
    const now = this.now()
    const out: Offer[] = own != null ? [own] : []
    for (const v of this.c.peers.view(this.c.self)) {
      if (v.self) continue
      const entry = this.c.peers.get(v.peerId)
      if (entry == null || now - entry.receivedAt > OFFER_MAX_AGE_MS) continue
      out.push({ report: entry.report, canBuild: this.c.canBuild(v.peerId) })
    }
    return out
  }

  plan (row: JobRow): { delayMs: number } | { skip: string } {
    const refused = this.c.refuse?.(row)
    if (refused != null) return { skip: refused }
    // whether this node can take the job is decided on its state now
    const own = this.c.ownOffer()
    const why = refusal(own, row.spec)
    if (why != null) return { skip: why }
    // its turn, on what every node has heard: the nodes whose reports say they can take it, then
    // those whose reports say they have no free slot (slots free up between reports; ranking
    // them the same way everywhere keeps their attempts apart too)
    const published = this.publishedOffers(own.canBuild)
    const free = new Set(published.filter(o => o.report.slotsFree >= 1).map(o => o.report.node))
    const order = rank(row.id, row.spec, published.map(o => ({ ...o, report: { ...o.report, slotsFree: Math.max(1, o.report.slotsFree) } })))
    const turns = [...order.filter(id => free.has(id)), ...order.filter(id => !free.has(id))]
    const at = turns.indexOf(this.c.self)
    return { delayMs: (at === -1 ? turns.length : at) * STAGGER_MS }
  }

  async claim (row: JobRow, signal: AbortSignal): Promise<ClaimResult> {
    if (this.c.alone(row)) {
      this.local.add(row.id)
      return { ok: true, epoch: 1, expiresAt: Number.MAX_SAFE_INTEGER }
    }
    if (!this.c.caughtUp() && this.now() - this.since < CATCH_UP_MAX_MS) {
      return { ok: false, reason: 'catching up with the mesh after a start' }
    }
    // a queued-looking job with a claim this node never heard of is left alone (see
    // UNSEEN_CLAIM_GRACE_MS); the lease manager shows the lease it reads before claiming
    const refuse = row.state === 'queued' ? (lease: LeasePayload | undefined) => this.unseenClaim(row, lease) : undefined
    const r = await this.c.leases.claim(row.id, { signal, refuse })
    if (r.ok) return { ok: true, epoch: r.epoch, expiresAt: r.expiresAt }
    return { ok: false, reason: r.detail ?? r.reason, holder: r.holder }
  }

  /** why not to claim a queued-looking job over a lease this node has no event of (see UNSEEN_CLAIM_GRACE_MS) */
  private unseenClaim (row: JobRow, lease: LeasePayload | undefined): string | undefined {
    if (lease == null || lease.epoch <= (row.epoch ?? 0)) return undefined
    const young = this.now() - this.since < UNSEEN_CLAIM_GRACE_MS
    return young || this.now() - lease.expiresAt < UNSEEN_CLAIM_GRACE_MS ? `a claim by ${lease.holder} this node has not heard of yet` : undefined
  }

  requeueAfterRestart (row: JobRow): boolean {
    return !this.c.alone(row)
  }

  keepAlive (row: JobRow, epoch: number, expiresAt: number, onLost: (holder?: string) => void): () => void {
    // a claim without a lease has nothing to renew; it stays marked until `holds` is asked, which
    // the runner does after it stopped keeping the claim alive
    if (this.local.has(row.id)) return () => {}
    return this.c.leases.keepAlive(row.id, epoch, expiresAt, { onLost: info => { onLost(info.holder) } })
  }

  async holds (row: JobRow, epoch: number, signal: AbortSignal): Promise<boolean> {
    if (this.local.delete(row.id)) return true
    return await this.c.leases.holds(row.id, epoch, { signal })
  }

  abandoned (row: JobRow): boolean {
    if (isFinal(row.state) || row.state === 'queued' || row.executor == null || row.executor === this.c.self) return false
    const since = row.startedAt ?? row.updatedAt
    const now = this.now()
    if (now - since < EXECUTOR_SILENT_MS) return false
    // a daemon that has just (re)started has heard nothing recent: its peers' last reports date
    // from before it stopped, and the results it missed arrive by sync in its first seconds. Taking
    // over on that stale view re-ran jobs that had finished meanwhile (the chaos suite saw it).
    if (now - this.since < EXECUTOR_SILENT_MS) return false
    const entry = this.c.peers.get(row.executor)
    if (entry == null) return true
    if (entry.report.state === 'gone' || now - entry.receivedAt > EXECUTOR_SILENT_MS) return true
    // the executor reports, but no longer lists the job (it restarted and lost it)
    return entry.report.at > since + EXECUTOR_SILENT_MS && !entry.report.running.includes(row.id)
  }
}
