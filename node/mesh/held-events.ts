import type { Signed } from '../../protocols/codec/index.js'
import type { JobEvent } from '../../protocols/job/index.js'

/** events held for one job not heard of yet */
export const HELD_PER_JOB = 64
/** events held in all */
export const HELD_TOTAL = 4096

/** what holding did: `refused` names why the event was not held; `evicted` counts older events let go */
export interface HoldResult { refused?: 'already-held' | 'held-job-full', evicted: number }

/**
 * Events of jobs this node has not seen announced yet (gossip keeps no order), kept in memory
 * until the announcement arrives and then judged like any other event against the job they name.
 * They are never stored nor applied unchecked. Bounded per job and in all: when full, the
 * oldest job's events go first (a job whose announcement never comes holds nothing for long).
 */
export class HeldEvents {
  private readonly jobs = new Map<string, Map<string, Signed<JobEvent>>>()
  private count = 0

  constructor (private readonly init: { perJob?: number, total?: number } = {}) {}

  get size (): number { return this.count }

  hold (signed: Signed<JobEvent>): HoldResult {
    const job = signed.payload.job
    let held = this.jobs.get(job)
    if (held?.has(signed.hash) === true) return { refused: 'already-held', evicted: 0 }
    if ((held?.size ?? 0) >= (this.init.perJob ?? HELD_PER_JOB)) return { refused: 'held-job-full', evicted: 0 }
    let evicted = 0
    while (this.count >= (this.init.total ?? HELD_TOTAL)) {
      // a Map iterates in insertion order: the first job is the one held longest
      const oldest = this.jobs.keys().next().value
      if (oldest == null) break
      const n = this.jobs.get(oldest)?.size ?? 0
      this.count -= n
      evicted += n
      this.jobs.delete(oldest)
      if (oldest === job) held = undefined
    }
    if (held == null) {
      held = new Map()
      this.jobs.set(job, held)
    }
    held.set(signed.hash, signed)
    this.count++
    return { evicted }
  }

  /** the events held for `job`, removed, in (epoch, time) order */
  take (job: string): Array<Signed<JobEvent>> {
    const held = this.jobs.get(job)
    if (held == null) return []
    this.jobs.delete(job)
    this.count -= held.size
    return [...held.values()].sort((a, b) => (a.payload.epoch ?? 0) - (b.payload.epoch ?? 0) || a.payload.at - b.payload.at)
  }
}
