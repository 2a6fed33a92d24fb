import { decodeCbor, ownBytes, sha256Hex } from '../../protocols/codec/index.js'
import { isFinal } from '../../protocols/job/records.js'
import { LOAD_BUSY_HEARTBEAT_MS, LOAD_SILENT_AFTER_MS, silentAfterMs } from '../../protocols/load/index.js'
import { MAX_LEASE_MESSAGE_BYTES } from '../../protocols/lease/index.js'
import { outcomeContent } from '../jobs/fence.js'
import { rank, refuse, refusal } from './admission.js'
import type { AdoptedResult, Claimer, ClaimResult, FinishResult, RunOutcome } from './claimer.js'
import type { Offer } from './admission.js'
import type { JobRow } from '../jobs/types.js'
import type { LeaseClaimant } from '../../protocols/lease/index.js'
import type { PeerTable } from '../mesh/peer-table.js'
import type { Logger } from '../../store/logger.js'

/**
 * delay between the attempts of nodes of consecutive rank after the second: a lower rank's claim
 * costs only a round trip if the first one won, so this is about efficiency, not safety
 */
export const STAGGER_MS = 25
/**
 * how long the node ranked second waits before it tries: long enough for the first node's claim
 * (a round trip to the acceptors) and its `started` event to reach it, so that it sees the job
 * taken and sends no claim at all. With 25 ms, as before, every lower rank of a 5-node mesh
 * claimed in vain (about 2.7 refused claims per job, each a round trip to three acceptors), which
 * cost CPU; it costs latency only when the first node does not take the job. The job's own node
 * keeps the plain stagger (MeshClaimer.plan says why).
 */
export const SECOND_TURN_MS = 250

/** the delay before a node of `at` (0 first) tries to claim */
export function turnDelay (at: number): number {
  return at <= 0 ? 0 : SECOND_TURN_MS + (at - 1) * STAGGER_MS
}
/** a report older than this does not count as an offer (two missed load heartbeats) */
export const OFFER_MAX_AGE_MS = LOAD_SILENT_AFTER_MS
/**
 * an executor silent (no load report) for this long, or whose reports stop listing the job, is
 * presumed gone: four heartbeats of a node that runs jobs (LOAD_BUSY_HEARTBEAT_MS)
 */
export const EXECUTOR_SILENT_MS = 4 * LOAD_BUSY_HEARTBEAT_MS
/**
 * A daemon that has just started claims nothing until it has pulled a member's records once (sync
 * on connect), or for at most this long: what looks queued to it may have been claimed and
 * finished while it was down, and the events that say so come with that first pull.
 */
export const CATCH_UP_MAX_MS = 15_000

export interface MeshClaimerComponents {
  self: string
  /** this node's claimant of the lease protocol */
  lease: LeaseClaimant
  peers: PeerTable
  /** the offer this node would make now */
  ownOffer: () => Offer
  canBuild: (peerId: string) => boolean
  /** why this node must not take the job whatever its load (a node without a sandbox: isolation.ts), or undefined */
  refuse?: (row: JobRow) => string | undefined
  /** whether this node knows a key as a member (and so can reach it) */
  isMember: (peerId: string) => boolean
  /** a job's signed announcement, sent with a claim to acceptors that may not have it yet */
  announcement: (id: string) => Promise<Uint8Array | undefined>
  /** whether this daemon has caught up with a member's records since it started (see CATCH_UP_MAX_MS) */
  caughtUp: () => boolean
  logger: Logger
  now?: () => number
}

/**
 * Claiming in a mesh: a node that admits the job waits for its rank among the nodes that would
 * admit it (STAGGER_MS per rank) and then claims the job's lease at a majority of its acceptors.
 * The run's outcome counts only with a majority of their votes; a claim that finds a result the
 * acceptors had accepted already finishes with that result instead of running the job again.
 */
export class MeshClaimer implements Claimer {
  private readonly now: () => number
  /**
   * per job, the highest epoch an acceptor told of and its signed word for it (a proof to claim
   * past it); until the job ends (`forget`): kept for every job that ended elsewhere, it grew the
   * daemon by every job it had tried and lost
   */
  private readonly known = new Map<string, { epoch: number, proof?: Uint8Array }>()

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

  /** `own` (if any), then the other nodes' reports received within `silentAfterMs` (OFFER_MAX_AGE_MS in a small mesh) */
  private heard (own: Offer | undefined): Offer[] {
    const now = this.now()
    const maxAge = silentAfterMs(this.c.peers.size)
    const out: Offer[] = own != null ? [own] : []
    for (const v of this.c.peers.view(this.c.self)) {
      if (v.self) continue
      const entry = this.c.peers.get(v.peerId)
      if (entry == null || now - entry.receivedAt > maxAge) continue
      out.push({ report: entry.report, canBuild: this.c.canBuild(v.peerId) })
    }
    return out
  }

  plan (row: JobRow): { delayMs: number } | { skip: string } {
    // before anything is sampled: every peer hears of a job pinned elsewhere (each cache hit is
    // pinned to its submitter), and sampling this node's load for it was a seventh of a peer's
    // CPU per hit
    if (row.runOn != null && row.runOn !== this.c.self) return { skip: 'pinned to another node' }
    const refused = this.c.refuse?.(row)
    if (refused != null) return { skip: refused }
    // whether this node can take the job is decided on its state now
    const own = this.c.ownOffer()
    if (row.runOn != null) return this.planPinned(row, own)
    const why = refusal(own, row.spec)
    if (why != null) return { skip: why }
    // its turn, on what every node has heard: the nodes whose reports say they can take it, then
    // those whose reports say they have no free slot (slots free up between reports; ranking
    // them the same way everywhere keeps their attempts apart too)
    const published = this.publishedOffers(own.canBuild)
    const free = new Set(published.filter(o => o.report.slotsFree >= 1).map(o => o.report.node))
    const order = rank(row.id, row.spec, published.map(o => ({ ...o, report: { ...o.report, slotsFree: Math.max(1, o.report.slotsFree) } })), row.origin)
    const turns = [...order.filter(id => free.has(id)), ...order.filter(id => !free.has(id))]
    const at = turns.indexOf(this.c.self)
    const turn = at === -1 ? turns.length : at
    // the node the job was submitted on heard of it first, tens of ms before the others: at its
    // plain stagger it often claims before a higher rank has heard of the job at all, and its run
    // needs no remote output stream; every other lower rank waits the second turn
    return { delayMs: row.origin === this.c.self ? turn * STAGGER_MS : turnDelay(turn) }
  }

  /**
   * A job pinned to one node (`cit-node run`: here and now): only that node tries, at once, and
   * whatever its load average says (a paused or full node still waits).
   */
  private planPinned (row: JobRow, own: Offer): { delayMs: number } | { skip: string } {
    const why = refuse(own, row.spec)
    if (why != null && why.kind !== 'load') return { skip: why.text }
    return { delayMs: 0 }
  }

  async claim (row: JobRow, signal: AbortSignal): Promise<ClaimResult> {
    // a job announced without acceptors (before this node joined a mesh) is its own node's
    if (row.acceptors == null) {
      return row.origin === this.c.self ? { ok: true, epoch: (row.epoch ?? 0) + 1 } : { ok: false, reason: 'a job without acceptors runs on its own node' }
    }
    if (!this.c.caughtUp() && this.now() - this.since < CATCH_UP_MAX_MS) {
      return { ok: false, reason: 'catching up with the mesh after a start' }
    }
    // a node that does not know every acceptor as a member has not caught up with the
    // membership the job was announced in: it could not reach them
    if (!row.acceptors.every(a => a === this.c.self || this.c.isMember(a))) {
      return { ok: false, reason: 'not caught up with the job\'s acceptors', retryMs: 5000 }
    }
    let epoch = row.epoch ?? 0
    let proof = row.grants?.[0]
    const known = this.known.get(row.id)
    if (known != null && known.epoch > epoch) ({ epoch, proof } = known)
    const t0 = performance.now()
    const ann = await this.c.announcement(row.id)
    const t1 = performance.now()
    const r = await this.c.lease.claim({ job: row.id, acceptors: row.acceptors, epoch: epoch + 1, proof, ann, signal })
    this.c.logger.debug('lease asked', { job: row.id, annMs: Math.round(t1 - t0), leaseMs: Math.round(performance.now() - t1) })
    if (!r.ok) {
      // the proof is a view into the reply's frame: its own bytes, not the frame, are kept
      if (r.epoch != null && r.epoch > epoch && r.proof != null) this.known.set(row.id, { epoch: r.epoch, proof: ownBytes(r.proof) })
      return { ok: false, reason: r.reason, holder: r.holder, retryMs: r.waitMs != null ? r.waitMs + STAGGER_MS : undefined }
    }
    this.known.delete(row.id)
    if (r.adopt == null) return { ok: true, epoch: r.epoch, cert: r.grants }
    const event = r.adopt.content != null ? decodeOutcome(r.adopt.content, r.adopt.outcome) : undefined
    if (event == null) {
      // a result whose content nobody sent along cannot be published: leave the decision to its executor
      await this.c.lease.release(row.id, r.epoch)
      return { ok: false, reason: 'an accepted result without its content', holder: r.adopt.holder, retryMs: 5000 }
    }
    return { ok: true, epoch: r.epoch, cert: r.grants, adopt: { ran: r.adopt.holder, event, outcome: r.adopt.outcome } }
  }

  forget (id: string): void {
    this.known.delete(id)
  }

  /** jobs this claimer keeps an acceptor's word for */
  get remembered (): number { return this.known.size }

  requeueAfterRestart (row: JobRow): boolean {
    return row.acceptors != null
  }

  keepAlive (row: JobRow, epoch: number, onLost: (reason: string) => void): () => void {
    if (row.acceptors == null) return () => {}
    let on = true
    this.c.lease.watch(row.id, epoch, reason => { if (on) onLost(reason === 'lost' ? 'the lease was taken over' : 'the lease lapsed: renewals failed') })
    return () => { on = false }
  }

  async finish (row: JobRow, epoch: number, outcome: RunOutcome | AdoptedResult, signal: AbortSignal): Promise<FinishResult> {
    if (row.acceptors == null) return { ok: true }
    const value = 'ran' in outcome
      ? { holder: outcome.ran, outcome: outcome.outcome, content: outcomeContent(outcome.event) }
      : { outcome: sha256Hex(outcomeContent(outcome)), content: outcomeContent(outcome) }
    const r = await this.c.lease.finish(row.id, epoch, value, { signal })
    return r.ok ? { ok: true, cert: r.votes } : { ok: false, reason: r.reason, holder: r.holder }
  }

  async release (row: JobRow, epoch: number): Promise<void> {
    if (row.acceptors != null) await this.c.lease.release(row.id, epoch)
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

/** the event fields an adopted result's content holds, if they hash to its outcome */
function decodeOutcome (content: Uint8Array, outcome: string): AdoptedResult['event'] | undefined {
  if (sha256Hex(content) !== outcome) return undefined
  try {
    const v = decodeCbor(content, MAX_LEASE_MESSAGE_BYTES) as AdoptedResult['event']
    return v.type === 'finished' || v.type === 'failed' ? v : undefined
  } catch {
    return undefined
  }
}
