import { linkedSignal } from '../../protocols/codec/index.js'
import { validateEvent } from '../../protocols/job/index.js'
import { isFinal } from '../../protocols/job/records.js'
import { DEFAULT_SLOTS } from './constants.js'
import { outputSink, prepareRun } from './early-run.js'
import type { AdoptedResult, Claimer, RunOutcome } from './claimer.js'
import type { EarlyRun, OutputSink } from './early-run.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobRow } from '../jobs/types.js'
import type { RunRequest, RunResult } from '../executor/types.js'
import type { JobResult } from '../../protocols/job/records.js'
import type { Logger } from '../../store/logger.js'

/** how often queued jobs are looked at again (claims that lost, executors that went silent) */
export const TICK_MS = 1000
/** after a claim that did not win, wait this long before this node tries the same job again */
export const RETRY_AFTER_MS = 3000
/** deadline of one claim (the lease protocol's own per-acceptor deadlines are shorter) */
export const CLAIM_TIMEOUT_MS = 10_000
/** the abort reason of runs stopped for a graceful stop: their leases are handed over */
const HANDOVER = new Error('the node is stopping: the job is handed over')

/** the `started` event was not recorded as this node's run at this epoch (a cancel, a supersede landed first) */
class NotStartedError extends Error {
  constructor () { super('the job was not started here: it changed before the start was recorded') }
}

/** what a run may add to the executor's result: a Nix job's outputs, the provenance statement, a rebuild's comparison */
export type ResultExtras = Partial<Pick<JobResult, 'nix' | 'provenance' | 'rebuild'>>

/** the narrow part of the executor the runner needs */
export interface JobExecutor {
  run: (req: RunRequest) => Promise<RunResult & ResultExtras>
}

export interface RunnerComponents {
  jobs: JobService
  executor: JobExecutor
  claimer: Claimer
  logger: Logger
  now?: () => number
}

export interface RunnerInit {
  /** jobs run at once (default one per core) */
  slots?: number
}

interface Running {
  controller: AbortController
  done: Promise<void>
}

/**
 * Takes queued jobs, highest priority first, then oldest first, up to `slots` at a time: asks the
 * claimer when to try each, claims it, runs it, keeps the claim alive and records every step as
 * a signed event; in a mesh a result is published only with the acceptors' certificate. On
 * start, jobs this node was running when it last stopped are queued again (in a mesh) or
 * recorded as failed (alone): their processes died with the old daemon.
 */
export class Runner {
  private readonly jobs: JobService
  private readonly c: RunnerComponents
  private readonly log: Logger
  private readonly slots: number
  private readonly now: () => number
  private readonly running = new Map<string, Running>()
  /** jobs this node might take: queued ones, and others' that may be abandoned */
  private readonly candidates = new Map<string, JobRow>()
  private readonly attempting = new Map<string, ReturnType<typeof setTimeout> | true>()
  /** claim attempts under way: stop() waits for them (one may be tearing down a run it set up) */
  private readonly inFlight = new Set<Promise<void>>()
  /** jobs whose claim did not win: not tried again before then (until they end) */
  private readonly notBefore = new Map<string, number>()
  private timer?: ReturnType<typeof setInterval>
  /** aborted once stop() has waited for the runs: claims and result decisions in flight end */
  private lifetime = new AbortController()
  private started = false
  private paused = false
  private readonly onChange = (row: JobRow): void => { this.track(row) }

  constructor (components: RunnerComponents, init: RunnerInit = {}) {
    this.c = components
    this.jobs = components.jobs
    this.log = components.logger
    this.now = components.now ?? Date.now
    this.slots = init.slots ?? DEFAULT_SLOTS
    if (!Number.isInteger(this.slots) || this.slots < 1) throw new RangeError('slots must be a whole number ≥ 1')
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.lifetime = new AbortController()
    for await (const stored of this.jobs.store.all()) {
      if (isFinal(stored.state)) continue
      const row = (await this.jobs.get(stored.id))!
      // a job this node had claimed or started died with the previous daemon process
      if ((row.state === 'claimed' || row.state === 'running') && row.executor === this.jobs.nodeId) {
        // under the epoch it held: if another node has taken the job over meanwhile, peers that
        // know of the newer epoch ignore this
        const reason = 'the daemon stopped while the job was running'
        if (this.c.claimer.requeueAfterRestart(row)) {
          // at-least-once: in a mesh the job is claimed again (at the next epoch, which fences
          // anything still running under the old one), here or on another member
          const again = await this.jobs.transition(row.id, 'requeued', { state: 'queued', reason, epoch: row.epoch, cert: row.grants })
          this.candidates.set(row.id, again)
          this.log.warn('job was running when the daemon stopped: queued again', { job: row.id })
        } else {
          await this.jobs.transition(row.id, 'failed', { state: 'failed', reason, epoch: row.epoch })
          this.log.warn('job was running when the daemon stopped: recorded as failed', { job: row.id })
        }
      } else {
        this.candidates.set(row.id, row)
      }
    }
    this.jobs.on('change', this.onChange)
    this.timer = setInterval(() => { this.pump() }, TICK_MS)
    this.timer.unref?.()
    this.pump()
  }

  /**
   * Stop taking jobs and hand the running ones over: each run is stopped, its lease released
   * and a `requeued` event says why, so another node (or this one, after a restart) runs it
   * again. Resolves when they have ended; results being decided at that moment are published.
   */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    if (this.timer != null) clearInterval(this.timer)
    this.jobs.off('change', this.onChange)
    for (const t of this.attempting.values()) if (t !== true) clearTimeout(t)
    this.attempting.clear()
    for (const r of this.running.values()) r.controller.abort(HANDOVER)
    await Promise.allSettled([...this.running.values()].map(async r => await r.done))
    this.lifetime.abort(new Error('the runner stopped'))
    await Promise.allSettled([...this.inFlight])
    this.candidates.clear()
    this.notBefore.clear()
  }

  /** Claim nothing more and wait until every running job has finished (`stop --wait`). */
  async drain (options: { signal?: AbortSignal } = {}): Promise<void> {
    this.setPaused(true)
    while (this.running.size > 0 && options.signal?.aborted !== true) {
      await Promise.race([
        Promise.allSettled([...this.running.values()].map(async r => await r.done)),
        new Promise(resolve => options.signal?.addEventListener('abort', resolve, { once: true }))
      ])
    }
  }

  setPaused (paused: boolean): void {
    this.paused = paused
    if (!paused) this.pump()
  }

  get runningIds (): string[] { return [...this.running.keys()] }
  get slotCount (): number { return this.slots }
  get isPaused (): boolean { return this.paused }
  get freeSlots (): number { return Math.max(0, this.slots - this.running.size) }
  /** jobs the runner keeps anything for: each ends when its job does, so none outlives it */
  get bookkeeping (): { candidates: number, retries: number, running: number } {
    return { candidates: this.candidates.size, retries: this.notBefore.size, running: this.running.size }
  }

  /** Cancel a running job here; false when this node is not running it. */
  cancel (id: string, reason: string): boolean {
    const r = this.running.get(id)
    if (r == null) return false
    r.controller.abort(new Error(reason))
    return true
  }

  private track (row: JobRow): void {
    if (isFinal(row.state)) {
      // a job that ended, here or elsewhere: nothing is kept for it (a daemon that ran for months
      // kept a retry time and an acceptor's word for every job it had tried and lost)
      this.candidates.delete(row.id)
      this.notBefore.delete(row.id)
      this.c.claimer.forget?.(row.id)
    } else if (!this.running.has(row.id)) {
      this.candidates.set(row.id, row)
    }
    this.pump()
  }

  /** queued jobs first by priority then age; then others' jobs whose executor went silent */
  private ordered (): JobRow[] {
    const now = this.now()
    return [...this.candidates.values()]
      .filter(row => !this.running.has(row.id) && !this.attempting.has(row.id) && (this.notBefore.get(row.id) ?? 0) <= now)
      .filter(row => row.state === 'queued' || this.c.claimer.abandoned(row))
      .sort((a, b) => b.priority - a.priority || a.submittedAt - b.submittedAt)
  }

  private pump (): void {
    if (!this.started || this.paused) return
    let budget = this.slots - this.running.size - this.attempting.size
    if (budget <= 0) return
    for (const row of this.ordered()) {
      if (budget <= 0) return
      const plan = this.c.claimer.plan(row)
      if ('skip' in plan) continue
      // where dispatch time goes (docs/benchmarks.md): submitted → planned (its turn's delay) → claim won
      this.log.debug('claim planned', { job: row.id, delayMs: plan.delayMs, sinceSubmitMs: Date.now() - row.submittedAt })
      budget--
      const go = (): void => {
        this.attempting.set(row.id, true)
        const p = this.attempt(row.id, plan.delayMs <= 0).finally(() => { this.inFlight.delete(p) })
        this.inFlight.add(p)
      }
      if (plan.delayMs <= 0) go()
      else this.attempting.set(row.id, setTimeout(go, plan.delayMs))
    }
  }

  private async attempt (id: string, first: boolean): Promise<void> {
    let asked = false
    let early: EarlyRun | undefined
    try {
      const row = await this.jobs.get(id)
      if (row == null || !this.started || this.paused || this.running.size >= this.slots) return
      const takeover = row.state !== 'queued'
      if (takeover && !this.c.claimer.abandoned(row)) return
      asked = true
      const controller = new AbortController()
      // the node that tries first sets the run up (workspace, sandbox, cgroup) while its claim is
      // in flight; the job's first process still waits for the claim and its `started` record
      if (first && !takeover && row.spec.nix == null) early = prepareRun(this.outputSink(id), controller, async (sink, gate) => await this.execute(row, controller.signal, sink.onOutput, gate))
      const asking = performance.now()
      // not AbortSignal.any: on Node.js 20 each one leaves a WeakRef on the runner's lifetime signal for good
      const deadline = linkedSignal([this.lifetime.signal], CLAIM_TIMEOUT_MS)
      const claim = await this.c.claimer.claim(row, deadline.signal).finally(deadline.dispose)
      const claimMs = performance.now() - asking
      if (!claim.ok || claim.adopt != null) {
        const off = early
        early = undefined
        await off?.callOff()
      }
      if (!claim.ok) {
        this.retryLater(id, claim.retryMs ?? RETRY_AFTER_MS)
        this.log.debug('claim did not win', { job: id, reason: claim.reason, holder: claim.holder })
        return
      }
      this.notBefore.delete(id)
      // where dispatch time goes (docs/benchmarks.md): submitted → claim asked → claim won
      this.log.debug('claim won', { job: id, sinceSubmitMs: Date.now() - row.submittedAt, claimMs: Math.round(claimMs) })
      const entry: Running = { controller, done: Promise.resolve() }
      this.running.set(id, entry)
      this.candidates.delete(id)
      const work = claim.adopt != null ? this.adopt(row, claim.epoch, claim.adopt, claim.cert) : this.runClaimed(row, claim.epoch, claim.cert, takeover, controller, early)
      early = undefined
      entry.done = work
        .catch(err => { this.log.error('job run failed unexpectedly', { job: id, err }) })
        .finally(() => {
          this.running.delete(id)
          this.pump()
        })
    } catch (err) {
      this.log.warn('claim attempt failed', { job: id, err })
      this.retryLater(id, RETRY_AFTER_MS)
    } finally {
      // a claim that threw: the run set up for it is torn down before the slot counts as free
      await early?.callOff()
      this.attempting.delete(id)
      // the slot this attempt held is free again (it lost, or its run is under way and counted as
      // running): look at the other queued jobs now rather than at the next tick, up to TICK_MS
      // later. Only after a claim was asked: it leaves the job running or waiting (notBefore), so
      // this cannot loop on the same job.
      if (asked) this.pump()
    }
  }

  /**
   * Try a job whose claim did not win again after `ms`, if it is still one to try: a job that
   * ended while its claim was in flight keeps nothing here, nor in the claimer (`track` has
   * let go of it already)
   */
  private retryLater (id: string, ms: number): void {
    if (this.candidates.has(id)) this.notBefore.set(id, this.now() + ms)
    else this.c.claimer.forget?.(id)
  }

  /** where a run's output goes (the live stream); the first byte's timing goes to the debug log */
  private outputSink (id: string): OutputSink {
    return outputSink((data, onlcr) => { this.jobs.liveOutput(id)?.push(data, onlcr) }, (startedMs, spawnToOutputMs) => { this.log.debug('first output', { job: id, startedMs, spawnToOutputMs }) })
  }

  private async runClaimed (row: JobRow, epoch: number, cert: Uint8Array[] | undefined, takeover: boolean, controller: AbortController, early?: EarlyRun): Promise<void> {
    const id = row.id
    const reason = takeover ? `taken over from ${row.executor ?? '?'}: it went silent and its lease lapsed` : undefined
    const t0 = performance.now()
    // The lease is held: the executor sets up the workspace and sandbox while `started` is
    // signed, stored and gossiped, and starts the job's first process only once it is recorded
    // (`ready`). A cancel or supersede may land between picking the job and claiming it: then
    // `ready` rejects, nothing has run, and the lease is given back as before.
    const ready = this.jobs.transition(id, 'started', { state: 'running', epoch, cert, reason }).then(started => {
      if (started.state !== 'running' || started.epoch !== epoch || started.executor !== this.jobs.nodeId) throw new NotStartedError()
      this.jobs.liveOutput(id, true)
    })
    // a Nix build is not run by the executor's gate: it waits for `started` here, as it always did
    const gated = row.spec.nix == null
    const sink = early?.sink ?? this.outputSink(id)
    sink.t0 = t0
    early?.open(ready)
    const running = gated ? early?.running ?? this.execute(row, controller.signal, sink.onOutput, ready) : undefined
    try {
      await ready
      sink.startedMs = performance.now() - t0
    } catch (err) {
      if (!(err instanceof NotStartedError)) this.log.warn('recording the start failed', { job: id, err })
      controller.abort(err)
      await running
      this.jobs.endLiveOutput(id)
      await this.c.claimer.release(row, epoch)
      if (!(err instanceof NotStartedError)) throw err
      return
    }
    let lost: string | undefined
    const stopKeeping = this.c.claimer.keepAlive(row, epoch, why => {
      lost = why
      controller.abort(new Error(why))
    })
    try {
      const outcome = await (running ?? this.execute(row, controller.signal, sink.onOutput))
      stopKeeping()
      if (controller.signal.reason === HANDOVER) {
        await this.handOver(row, epoch, cert)
      } else if (lost != null) {
        await this.jobs.transition(id, 'lease-lost', { reason: `lease epoch ${epoch} lost (${lost}): result discarded`, epoch, cert })
      } else {
        await this.publish(row, epoch, outcome, cert)
      }
    } finally {
      stopKeeping()
      this.jobs.endLiveOutput(id)
    }
  }

  /** run the job; what it ended with, as its final event will say (an executor error is a failure) */
  private async execute (row: JobRow, signal: AbortSignal, onOutput: (data: Uint8Array, onlcr: boolean) => void, ready?: Promise<void>): Promise<RunOutcome> {
    try {
      const r = await this.c.executor.run({ jobId: row.id, spec: row.spec, params: row.params, source: row.source, build: row.build, signal, onRawOutput: onOutput, ready })
      return {
        type: 'finished',
        state: r.outcome,
        result: { state: r.outcome, exitCode: r.exitCode, reason: r.reason, usage: r.usage, log: r.log, artefacts: r.artefacts, nix: r.nix, provenance: r.provenance, rebuild: r.rebuild }
      }
    } catch (err: any) {
      // a run set up ahead of a claim that did not win: nothing ran, and nothing is published
      if (err?.code === 'ERR_RUN_CALLED_OFF') return { type: 'failed', state: 'failed', reason: 'called off before it started' }
      this.log.error('the executor failed', { job: row.id, err })
      return { type: 'failed', state: 'failed', reason: `the executor failed: ${String(err?.message ?? err)}` }
    }
  }

  /**
   * Have the outcome decided by the acceptors and publish it with their certificate. If they do
   * not decide it (another node took the job over, or they cannot be reached), the result is
   * discarded and the job runs again elsewhere.
   */
  private async publish (row: JobRow, epoch: number, outcome: RunOutcome | AdoptedResult, grants?: Uint8Array[]): Promise<void> {
    const fin = await this.c.claimer.finish(row, epoch, outcome, this.lifetime.signal)
    if (!fin.ok) {
      const by = fin.holder != null ? ` (now ${fin.holder})` : ''
      await this.jobs.transition(row.id, 'lease-lost', { reason: `the acceptors did not take this run's result (${fin.reason}${by}): discarded`, epoch, cert: grants })
      return
    }
    const ev = 'ran' in outcome ? outcome.event : outcome
    const ran = 'ran' in outcome && outcome.ran !== this.jobs.nodeId ? outcome.ran : undefined
    await this.jobs.transition(row.id, ev.type as 'finished' | 'failed', { state: ev.state, reason: ev.reason, result: ev.result, epoch, cert: fin.cert, ran })
  }

  /** a claim found a result the acceptors had accepted: publish it (the job does not run again) */
  private async adopt (row: JobRow, epoch: number, adopted: AdoptedResult, grants?: Uint8Array[]): Promise<void> {
    const { problem } = validateEvent({ job: row.id, node: this.jobs.nodeId, at: this.now(), ...adopted.event, ran: adopted.ran })
    if (problem != null) {
      this.log.warn('an accepted result is malformed: left to its executor', { job: row.id, problem })
      await this.c.claimer.release(row, epoch)
      return
    }
    this.log.info('publishing a result the acceptors had accepted', { job: row.id, ran: adopted.ran })
    await this.publish(row, epoch, adopted, grants)
  }

  /** a graceful stop: give the lease up and say why, so another node runs the job at once */
  private async handOver (row: JobRow, epoch: number, grants?: Uint8Array[]): Promise<void> {
    await this.c.claimer.release(row, epoch).catch(err => { this.log.warn('lease release failed; it lapses at its expiry', { job: row.id, err }) })
    await this.jobs.transition(row.id, 'requeued', { state: 'queued', reason: `handed over: ${this.jobs.nodeId} stopped while running it`, epoch, cert: grants })
    this.log.info('job handed over', { job: row.id, epoch })
  }
}
