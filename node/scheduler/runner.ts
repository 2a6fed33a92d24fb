import { isFinal } from '../../protocols/job/records.js'
import { DEFAULT_SLOTS } from './constants.js'
import type { Claimer } from './claimer.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobRow } from '../jobs/types.js'
import type { RunRequest, RunResult } from '../executor/types.js'
import type { JobResult } from '../../protocols/job/records.js'
import type { Logger } from '../../store/logger.js'

/** how often queued jobs are looked at again (claims that lost, executors that went silent) */
export const TICK_MS = 1000
/** after a claim that did not win, wait this long before this node tries the same job again */
export const RETRY_AFTER_MS = 3000

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
 * a signed event. On start, jobs this node was running when it last stopped are recorded as
 * failed: their processes died with the old daemon.
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
  private readonly notBefore = new Map<string, number>()
  private timer?: ReturnType<typeof setInterval>
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
    for await (const stored of this.jobs.store.all()) {
      if (isFinal(stored.state)) continue
      const row = (await this.jobs.get(stored.id))!
      // a job this node had claimed or started died with the previous daemon process
      if ((row.state === 'claimed' || row.state === 'running') && row.executor === this.jobs.nodeId) {
        // under the epoch it held: if another node has taken the job over meanwhile, peers that
        // know of the newer epoch ignore this, and its result replaces it everywhere else
        const reason = 'the daemon stopped while the job was running'
        if (this.c.claimer.requeueAfterRestart(row)) {
          // at-least-once: in a mesh the job is claimed again (at the next epoch, which fences
          // anything still running under the old one), here or on another member
          const again = await this.jobs.transition(row.id, 'requeued', { state: 'queued', reason, epoch: row.epoch })
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

  /** Stop taking jobs and cancel the running ones; resolves when they have ended. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    if (this.timer != null) clearInterval(this.timer)
    this.jobs.off('change', this.onChange)
    for (const t of this.attempting.values()) if (t !== true) clearTimeout(t)
    this.attempting.clear()
    for (const r of this.running.values()) r.controller.abort(new Error('the daemon is stopping'))
    await Promise.allSettled([...this.running.values()].map(async r => await r.done))
    this.candidates.clear()
  }

  setPaused (paused: boolean): void {
    this.paused = paused
    if (!paused) this.pump()
  }

  get runningIds (): string[] { return [...this.running.keys()] }
  get slotCount (): number { return this.slots }
  get isPaused (): boolean { return this.paused }
  get freeSlots (): number { return Math.max(0, this.slots - this.running.size) }

  /** Cancel a running job here; false when this node is not running it. */
  cancel (id: string, reason: string): boolean {
    const r = this.running.get(id)
    if (r == null) return false
    r.controller.abort(new Error(reason))
    return true
  }

  private track (row: JobRow): void {
    if (isFinal(row.state)) this.candidates.delete(row.id)
    else if (!this.running.has(row.id)) this.candidates.set(row.id, row)
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
      budget--
      const go = (): void => { this.attempting.set(row.id, true); void this.attempt(row.id) }
      if (plan.delayMs <= 0) go()
      else this.attempting.set(row.id, setTimeout(go, plan.delayMs))
    }
  }

  private async attempt (id: string): Promise<void> {
    try {
      const row = await this.jobs.get(id)
      if (row == null || !this.started || this.paused || this.running.size >= this.slots) return
      const takeover = row.state !== 'queued'
      if (takeover && !this.c.claimer.abandoned(row)) return
      const claim = await this.c.claimer.claim(row, AbortSignal.timeout(10_000))
      if (!claim.ok) {
        this.notBefore.set(id, this.now() + RETRY_AFTER_MS)
        this.log.debug('claim did not win', { job: id, reason: claim.reason, holder: claim.holder })
        return
      }
      this.notBefore.delete(id)
      const controller = new AbortController()
      const entry: Running = { controller, done: Promise.resolve() }
      this.running.set(id, entry)
      this.candidates.delete(id)
      entry.done = this.runClaimed(row, claim.epoch, claim.expiresAt, takeover, controller)
        .catch(err => { this.log.error('job run failed unexpectedly', { job: id, err }) })
        .finally(() => {
          this.running.delete(id)
          this.pump()
        })
    } catch (err) {
      this.log.warn('claim attempt failed', { job: id, err })
      this.notBefore.set(id, this.now() + RETRY_AFTER_MS)
    } finally {
      this.attempting.delete(id)
    }
  }

  private async runClaimed (row: JobRow, epoch: number, expiresAt: number, takeover: boolean, controller: AbortController): Promise<void> {
    const id = row.id
    if (takeover) {
      await this.jobs.transition(id, 'requeued', { state: 'queued', reason: `the executor ${row.executor ?? '?'} went silent; its lease expired`, epoch })
    }
    // a cancel or supersede may land between picking the job and claiming it
    if ((await this.jobs.transition(id, 'claimed', { state: 'claimed', epoch })).state !== 'claimed') return
    if ((await this.jobs.transition(id, 'started', { state: 'running', epoch })).state !== 'running') return
    let lostTo: string | undefined
    let lost = false
    const stopKeeping = this.c.claimer.keepAlive(row, epoch, expiresAt, holder => {
      lost = true
      lostTo = holder
      controller.abort(new Error('the lease was lost'))
    })
    const live = this.jobs.liveOutput(id, true)!
    try {
      const result = await this.c.executor.run({
        jobId: id,
        spec: row.spec,
        params: row.params,
        signal: controller.signal,
        onOutput: data => { live.push(data) }
      })
      stopKeeping()
      // fencing: a node that no longer holds the lease publishes no result
      if (lost || !await this.c.claimer.holds(row, epoch, AbortSignal.timeout(10_000))) {
        await this.jobs.transition(id, 'lease-lost', { reason: `lease epoch ${epoch} lost${lostTo != null ? ` to ${lostTo}` : ''}: result discarded`, epoch })
        return
      }
      await this.jobs.transition(id, 'finished', {
        state: result.outcome,
        epoch,
        result: {
          state: result.outcome,
          exitCode: result.exitCode,
          reason: result.reason,
          usage: result.usage,
          log: result.log,
          artefacts: result.artefacts,
          nix: result.nix,
          provenance: result.provenance,
          rebuild: result.rebuild
        }
      })
    } catch (err: any) {
      await this.jobs.transition(id, 'failed', { state: 'failed', reason: `the executor failed: ${String(err?.message ?? err)}`, epoch })
      throw err
    } finally {
      stopKeeping()
      this.jobs.endLiveOutput(id)
    }
  }
}
