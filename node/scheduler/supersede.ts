import type { JobService } from '../jobs/job-service.js'
import type { JobRow } from '../jobs/types.js'

/** how many recent jobs are looked through for older ones of the same name */
export const SUPERSEDE_SCAN_LIMIT = 1000

/**
 * A newer job of the same name from the same submitter replaces its waiting older ones
 * (`supersede: waiting`), and with `supersede: running` stops the running one too. Only the
 * submitter's own node signs these events, so each is signed once.
 */
export class Supersede {
  private readonly busy = new Set<string>()

  constructor (private readonly c: { jobs: JobService, self: string }) {}

  async onChange (row: JobRow): Promise<void> {
    if (row.state !== 'queued' || row.submitter !== this.c.self || row.spec.supersede === 'none') return
    if (this.busy.has(row.id)) return
    this.busy.add(row.id)
    try {
      for await (const other of this.c.jobs.store.list({ newestFirst: true, limit: SUPERSEDE_SCAN_LIMIT })) {
        if (other.id === row.id || other.name !== row.name || other.submitter !== row.submitter || other.submittedAt > row.submittedAt) continue
        const current = await this.c.jobs.get(other.id)
        if (current == null) continue
        const waiting = current.state === 'queued' || current.state === 'claimed'
        const running = current.state === 'running' && row.spec.supersede === 'running'
        if (waiting || running) {
          await this.c.jobs.transition(current.id, 'superseded', { state: 'superseded', reason: `superseded by ${row.id}` })
        }
      }
    } finally {
      this.busy.delete(row.id)
    }
  }
}
