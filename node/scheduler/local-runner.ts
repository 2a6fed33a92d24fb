import { isFinal } from '../../protocols/job/records.js'
import { DEFAULT_SLOTS } from './constants.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobRow } from '../jobs/types.js'
import type { RunRequest, RunResult } from '../executor/types.js'
import type { Logger } from '../../store/logger.js'

/** the narrow part of the executor the runner needs */
export interface JobExecutor {
  run: (req: RunRequest) => Promise<RunResult>
}

export interface LocalRunnerComponents {
  jobs: JobService
  executor: JobExecutor
  logger: Logger
}

export interface LocalRunnerInit {
  /** jobs run at once (default one per core) */
  slots?: number
  /** which queued jobs this node may run (default all); in a mesh without claiming, its own */
  shouldRun?: (row: JobRow) => boolean
}

/**
 * Runs queued jobs on this node, highest priority first, then oldest first, up to `slots` at a
 * time. On start it records the jobs this node was running when it last stopped as failed: their
 * processes died with the old daemon.
 */
export class LocalRunner {
  private readonly jobs: JobService
  private readonly executor: JobExecutor
  private readonly log: Logger
  private readonly slots: number
  private readonly shouldRun: (row: JobRow) => boolean
  private readonly running = new Map<string, { controller: AbortController, done: Promise<void> }>()
  private readonly queued = new Map<string, JobRow>()
  private started = false
  private paused = false
  private readonly onChange = (row: JobRow): void => { this.track(row) }

  constructor (components: LocalRunnerComponents, init: LocalRunnerInit = {}) {
    this.jobs = components.jobs
    this.executor = components.executor
    this.log = components.logger
    this.slots = init.slots ?? DEFAULT_SLOTS
    this.shouldRun = init.shouldRun ?? (() => true)
    if (!Number.isInteger(this.slots) || this.slots < 1) throw new RangeError('slots must be a whole number ≥ 1')
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    for await (const stored of this.jobs.store.list()) {
      if (isFinal(stored.state)) continue
      const row = (await this.jobs.get(stored.id))!
      // a job this node had claimed or started died with the previous daemon process
      if ((row.state === 'claimed' || row.state === 'running') && row.executor === this.jobs.nodeId) {
        await this.jobs.transition(row.id, 'failed', { state: 'failed', reason: 'the daemon stopped while the job was running' })
        this.log.warn('job was running when the daemon stopped: recorded as failed', { job: row.id })
      } else if (row.state === 'queued' && this.shouldRun(row)) {
        this.queued.set(row.id, row)
      }
    }
    this.jobs.on('change', this.onChange)
    this.pump()
  }

  /** Stop taking jobs and cancel the running ones; resolves when they have ended. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.jobs.off('change', this.onChange)
    for (const r of this.running.values()) r.controller.abort(new Error('the daemon is stopping'))
    await Promise.allSettled([...this.running.values()].map(async r => await r.done))
    this.queued.clear()
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
    if (row.state === 'queued' && this.shouldRun(row)) this.queued.set(row.id, row)
    else this.queued.delete(row.id)
    this.pump()
  }

  private next (): JobRow | undefined {
    let best: JobRow | undefined
    for (const row of this.queued.values()) {
      if (best == null || row.priority > best.priority || (row.priority === best.priority && row.submittedAt < best.submittedAt)) best = row
    }
    return best
  }

  private pump (): void {
    while (this.started && !this.paused && this.running.size < this.slots) {
      const row = this.next()
      if (row == null) return
      this.queued.delete(row.id)
      const controller = new AbortController()
      const entry = { controller, done: Promise.resolve() }
      this.running.set(row.id, entry)
      entry.done = this.runOne(row, controller)
        .catch(err => { this.log.error('job run failed unexpectedly', { job: row.id, err }) })
        .finally(() => {
          this.running.delete(row.id)
          this.pump()
        })
    }
  }

  private async runOne (row: JobRow, controller: AbortController): Promise<void> {
    // a cancel or supersede may land between picking the job and claiming it
    if ((await this.jobs.transition(row.id, 'claimed', { state: 'claimed' })).state !== 'claimed') return
    if ((await this.jobs.transition(row.id, 'started', { state: 'running' })).state !== 'running') return
    const live = this.jobs.liveOutput(row.id, true)!
    try {
      const result = await this.executor.run({
        jobId: row.id,
        spec: row.spec,
        params: row.params,
        signal: controller.signal,
        onOutput: data => { live.push(data) }
      })
      await this.jobs.transition(row.id, 'finished', {
        state: result.outcome,
        result: {
          state: result.outcome,
          exitCode: result.exitCode,
          reason: result.reason,
          usage: result.usage,
          log: result.log,
          artefacts: result.artefacts
        }
      })
    } catch (err: any) {
      await this.jobs.transition(row.id, 'failed', { state: 'failed', reason: `the executor failed: ${String(err?.message ?? err)}` })
      throw err
    } finally {
      this.jobs.endLiveOutput(row.id)
    }
  }
}
