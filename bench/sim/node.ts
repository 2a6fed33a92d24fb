/**
 * One simulated cit node: the real LeaseService (acceptor, claimant, RPC) on a virtual clock over
 * the simulated network, and a model of the daemon's scheduler around it: on hearing a job it
 * waits for its turn (rank × STAGGER_MS, the rank computed by the real `rank`), claims the lease
 * at the job's acceptors unless it has heard the job started or finished meanwhile, "runs" the job
 * for `workMs` of virtual time while the claimant renews the lease, then has the result decided
 * by the acceptors' votes and publishes the `started` and `finished` events by gossip.
 */
import { STAGGER_MS } from '../../node/scheduler/mesh-claimer.js'
import { checkVotes, LeaseService, MemoryVoteStore, outcomeOf } from '../../protocols/lease/index.js'
import { jobEvent, simResult } from './messages.js'
import type { Ledger } from './ledger.js'
import type { Heard } from './messages.js'
import type { Identity } from '../../protocols/codec/index.js'
import type { JobEvent } from '../../protocols/job/index.js'
import type { LeaseClock, LeaseTransport, VirtualTime } from '../../protocols/lease/index.js'

/** how often a running job checks that its lease still holds (as the runner's keep-alive would learn of a loss) */
const HOLD_CHECK_MS = 500
/** a claim that failed without a hint is tried again after this long */
const RETRY_MS = 1000

export interface NodeContext {
  vt: VirtualTime
  mesh: string
  ledger: Ledger
  workMs: number
  /** slots of every node */
  slots: number
  /** this node's turn for a job (0 first) */
  turnOf: (job: string, node: string) => number
  publish: (from: number, bytes: Uint8Array) => void
  /** an announcement a claimant sent along, checked: its job id and acceptors */
  checkAnnouncement: (ann: Uint8Array) => { id: string, acceptors: string[] } | undefined
}

interface NodeJob {
  state: 'queued' | 'running' | 'done'
  acceptors?: string[]
  ann?: Uint8Array
  /** the highest epoch an acceptor told of, with its signed word */
  known: { epoch: number, proof?: Uint8Array }
  busy: boolean
  timer?: { cancelled: boolean }
}

export class SimNode {
  readonly id: string
  readonly lease: LeaseService
  readonly jobs = new Map<string, NodeJob>()
  readonly clock: LeaseClock
  slotsFree: number

  constructor (readonly index: number, readonly identity: Identity, transport: LeaseTransport, private readonly ctx: NodeContext, clockOffsetMs: number) {
    this.id = identity.id
    this.clock = ctx.vt.clock(clockOffsetMs, 1)
    this.slotsFree = ctx.slots
    this.lease = new LeaseService({
      identity, mesh: ctx.mesh, transport, votes: new MemoryVoteStore(), clock: this.clock,
      lookup: async (job, ann) => this.acceptorsOf(job, ann),
      isBuilder: () => true
    })
  }

  start (): void { this.lease.start() }
  stop (): void { this.lease.stop() }

  private job (id: string): NodeJob {
    let j = this.jobs.get(id)
    if (j == null) {
      j = { state: 'queued', known: { epoch: 0 }, busy: false }
      this.jobs.set(id, j)
    }
    return j
  }

  private async acceptorsOf (job: string, ann?: Uint8Array): Promise<readonly string[] | undefined> {
    const known = this.jobs.get(job)?.acceptors
    if (known != null || ann == null) return known
    const a = this.ctx.checkAnnouncement(ann)
    return a?.id === job ? a.acceptors : undefined
  }

  /** this node submitted `id`: it knows the job at once and plans its own claim */
  submitted (id: string, acceptors: string[], ann: Uint8Array): void {
    const j = this.job(id)
    j.acceptors = acceptors
    j.ann = ann
    this.plan(id)
  }

  /** a valid gossip message reached this node */
  heard (h: Heard, id: string): void {
    if (h.kind === 'job') {
      const j = this.job(id)
      if (j.acceptors != null) return
      j.acceptors = h.value.acceptors ?? []
      j.ann = h.bytes
      this.ctx.ledger.heard(id, this.index, this.ctx.vt.t)
      this.plan(id)
    } else if (h.kind === 'event') {
      const ev = h.value
      const j = this.job(ev.job)
      if (ev.type === 'started' && j.state === 'queued') j.state = 'running'
      if (ev.type === 'finished') {
        if (j.state !== 'done') this.ctx.ledger.done(ev.job, this.index, this.ctx.vt.t)
        j.state = 'done'
      }
      if ((ev.epoch ?? 0) > j.known.epoch && ev.cert != null) j.known = { epoch: ev.epoch ?? 0, proof: ev.cert[0] }
      if (j.state !== 'queued' && j.timer != null) j.timer.cancelled = true
    }
  }

  private plan (id: string): void {
    this.later(id, this.ctx.turnOf(id, this.id) * STAGGER_MS)
  }

  private later (id: string, ms: number): void {
    const j = this.job(id)
    if (j.timer != null) j.timer.cancelled = true
    j.timer = this.ctx.vt.after(ms, () => { void this.attempt(id) })
  }

  private async attempt (id: string): Promise<void> {
    const j = this.job(id)
    if (j.state !== 'queued' || j.busy || j.acceptors == null) return
    if (this.slotsFree < 1) { this.later(id, RETRY_MS); return }
    j.busy = true
    try {
      const r = await this.lease.claimant.claim({ job: id, acceptors: j.acceptors, epoch: j.known.epoch + 1, proof: j.known.proof, ann: j.ann }).catch(() => undefined)
      if (r == null) { this.later(id, RETRY_MS); return }
      if (!r.ok) {
        if (r.epoch != null && r.epoch > j.known.epoch && r.proof != null) j.known = { epoch: r.epoch, proof: r.proof }
        this.later(id, r.waitMs != null ? r.waitMs + STAGGER_MS : RETRY_MS)
        return
      }
      j.known = { epoch: r.epoch, proof: r.grants[0] }
      if (r.adopt != null) {
        // the acceptors had accepted a result before: decide that one, do not run the job again
        await this.finish(id, j, r.epoch, { outcome: r.adopt.outcome, holder: r.adopt.holder, content: r.adopt.content })
        return
      }
      await this.run(id, j, r.epoch)
    } finally {
      j.busy = false
    }
  }

  private async run (id: string, j: NodeJob, epoch: number): Promise<void> {
    const { vt, ledger } = this.ctx
    const claimant = this.lease.claimant
    ledger.started(id, vt.t)
    j.state = 'running'
    this.slotsFree--
    this.publishEvent({ job: id, type: 'started', at: this.clock.now(), state: 'running', epoch })
    let lost = false
    claimant.watch(id, epoch, () => { lost = true })
    for (let spent = 0; spent < this.ctx.workMs && !lost; spent += HOLD_CHECK_MS) {
      await vt.sleep(this.clock, Math.min(HOLD_CHECK_MS, this.ctx.workMs - spent))
      if (!claimant.holds(id, epoch)) lost = true
    }
    this.slotsFree++
    if (lost) {
      // the runner stops a run whose lease is gone; the job is claimed again (at a later epoch)
      if (j.state === 'running') j.state = 'queued'
      this.later(id, STAGGER_MS)
      return
    }
    await this.finish(id, j, epoch, { outcome: outcomeOf({ job: id, epoch, by: this.id }) })
  }

  private async finish (id: string, j: NodeJob, epoch: number, value: { outcome: string, holder?: string, content?: Uint8Array }): Promise<void> {
    const holder = value.holder ?? this.id
    const f = await this.lease.claimant.finish(id, epoch, value).catch(() => undefined)
    if (f?.ok !== true) {
      if (j.state !== 'done') {
        j.state = 'queued'
        this.later(id, RETRY_MS)
      }
      return
    }
    const cert = checkVotes(f.votes, { mesh: this.ctx.mesh, job: id, acceptors: j.acceptors ?? [], holder, outcome: value.outcome })
    this.ctx.ledger.accepted(id, `${holder}/${value.outcome}`, cert.ok, this.ctx.vt.t)
    if (j.state !== 'done') this.ctx.ledger.done(id, this.index, this.ctx.vt.t)
    j.state = 'done'
    this.publishEvent({ job: id, type: 'finished', at: this.clock.now(), state: 'succeeded', result: simResult(id), epoch, cert: f.votes, ran: holder })
  }

  private publishEvent (ev: Omit<JobEvent, 'node'>): void {
    this.ctx.publish(this.index, jobEvent(this.identity, { ...ev, mesh: this.ctx.mesh }))
  }
}
