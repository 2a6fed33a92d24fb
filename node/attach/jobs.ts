import { ATTACH_DEFAULT_COLS, ATTACH_DEFAULT_ROWS } from '../../protocols/attach/index.js'
import type { AttachEndState, AttachJobs, AttachOutputSource, TerminalSize } from '../../protocols/attach/index.js'
import type { JobRow } from '../jobs/types.js'

export interface AttachJobsComponents {
  /** the node's jobs: live output of running ones, rows for the final state */
  jobs: {
    liveOutput: (id: string) => AttachOutputSource | undefined
    get: (id: string) => Promise<JobRow | undefined>
  }
  /** the executor: keys and resizes for a running job (`Executor` fits) */
  executor: {
    write: (jobId: string, data: Uint8Array) => boolean
    resize: (jobId: string, cols: number, rows: number) => void
  }
}

export interface AttachJobsInit {
  /** the executor's terminal size for a job nobody has resized (its `cols`/`rows`, default 120×40) */
  cols?: number
  rows?: number
}

/**
 * The daemon's jobs as the attach service sees them: live output from the JobService, keys and
 * resizes through the Executor, and the terminal size of each running job (the executor's
 * default until someone resizes it through attach).
 */
export class AttachJobsAdapter implements AttachJobs {
  private readonly sizes = new Map<string, TerminalSize>()
  private readonly initial: TerminalSize

  constructor (private readonly components: AttachJobsComponents, init: AttachJobsInit = {}) {
    this.initial = { cols: init.cols ?? ATTACH_DEFAULT_COLS, rows: init.rows ?? ATTACH_DEFAULT_ROWS }
  }

  live (job: string): AttachOutputSource | undefined {
    const live = this.components.jobs.liveOutput(job)
    if (live == null) this.sizes.delete(job)
    return live
  }

  async state (job: string): Promise<AttachEndState | undefined> {
    const row = await this.components.jobs.get(job)
    if (row == null) return undefined
    return { state: row.state, exitCode: row.exitCode ?? null, ...(row.reason != null ? { reason: row.reason } : {}) }
  }

  write (job: string, data: Uint8Array): boolean {
    return this.components.executor.write(job, data)
  }

  resize (job: string, cols: number, rows: number): void {
    this.components.executor.resize(job, cols, rows)
    this.sizes.set(job, { cols, rows })
  }

  size (job: string): TerminalSize | undefined {
    return this.sizes.get(job) ?? this.initial
  }
}
