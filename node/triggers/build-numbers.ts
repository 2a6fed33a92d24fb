import type { JobService } from '../jobs/job-service.js'
import type { JobRow } from '../jobs/types.js'

/**
 * Build numbers: each new job of a name gets one more than the highest this node knows for that
 * name (its own jobs and every peer's it has heard of), so numbers increase across the mesh. Two
 * members submitting the same name in the same instant, before either hears of the other's job,
 * can give the same number; `show` and the pages order by submission time in that case.
 */
export class BuildNumbers {
  private readonly highest = new Map<string, number>()
  private loading?: Promise<void>
  private readonly onChange = (row: JobRow): void => { this.see(row) }

  constructor (private readonly c: { jobs: JobService }) {}

  start (): void {
    this.c.jobs.on('change', this.onChange)
  }

  stop (): void {
    this.c.jobs.off('change', this.onChange)
  }

  /** the number the next job of `name` gets (taken: a second call gives the one after) */
  async next (name: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    this.loading ??= this.load(options.signal)
    await this.loading
    const n = (this.highest.get(name) ?? 0) + 1
    this.highest.set(name, n)
    return n
  }

  private see (row: { name: string, build?: number }): void {
    if (row.build != null && row.build > (this.highest.get(row.name) ?? 0)) this.highest.set(row.name, row.build)
  }

  private async load (signal?: AbortSignal): Promise<void> {
    for await (const row of this.c.jobs.store.all({ signal })) this.see(row)
  }
}
