import type { JobService } from '../jobs/job-service.js'
import type { Logger } from '../../store/logger.js'
import type { Ingest } from './ingest.js'

/**
 * The acceptors of a job an acceptor is asked to grant a claim of, or undefined for a job it
 * cannot place. A claim may bring the job's announcement along, for an acceptor that has not heard
 * of it yet: checked as a gossiped one would be, it names the acceptors itself (the job's row is
 * made from it), so no read of the store, nor its write, waits before the grant, whose own synced
 * write is what a restarted acceptor relies on. A job not known here yet is kept as one heard by
 * gossip would be, meanwhile (`kept` resolves once that is done, for tests).
 */
export function claimAcceptors (c: { jobs: JobService, ingest: Ingest, logger: Logger }, job: string, ann?: Uint8Array): { acceptors: Promise<readonly string[] | undefined>, kept: Promise<void> } {
  const fromRow = async (): Promise<readonly string[] | undefined> => (await c.jobs.get(job))?.acceptors
  if (ann == null) return { acceptors: fromRow(), kept: Promise.resolve() }
  const v = c.ingest.check(ann, 'job')
  if (!v.ok || v.value.kind !== 'job' || v.value.signed.hash !== job) return { acceptors: fromRow(), kept: Promise.resolve() }
  const checked = v.value
  const kept = c.jobs.get(job)
    .then(async row => { if (row == null) await c.ingest.apply(checked) })
    .catch(err => { c.logger.warn('keeping an announcement sent with a claim failed', { job, err }) })
  return { acceptors: Promise.resolve(checked.signed.payload.acceptors), kept }
}
