import type { JobEvent } from '../../protocols/job/records.js'
import type { JobRow } from './types.js'

/**
 * whether a key held the admin role when it signed (`at`), by the trust records kept now, even if
 * that grant was revoked since: every node judges a stored event the same way whenever it applies
 * it, before or after a later grant or revocation (a node outside any mesh: never another key)
 */
export type IsAdmin = (key: string, at: number) => boolean

/** the stable reasons an event is refused for what it does (counted in `status --json` `dropped`) */
export type Refusal = 'not-owner' | 'cache-hit-not-submitter' | 'cache-hit-not-queued'

/** events only the job's submitter or an admin may sign */
const OWNER_ONLY = new Set<JobEvent['type']>(['cancel-requested', 'cancelled', 'superseded', 'reprioritized'])

/**
 * Why the signer of `ev` (its `node`: ingest drops any event whose node is not its signer) may
 * not do what `ev` does to `row`, or undefined when it may. Checked where an event arrives and
 * again wherever a stored event is applied (a job announced after its events, a store read
 * back), so an event that slipped in by sync before its job was known still changes nothing.
 * Run events are the fence's to judge (their lease and finish certificates, see fence.ts).
 */
export function refusal (row: JobRow, ev: JobEvent, isAdmin: IsAdmin): Refusal | undefined {
  if (ev.type === 'submitted') return ev.node === row.submitter ? undefined : 'not-owner'
  if (OWNER_ONLY.has(ev.type)) return ev.node === row.submitter || isAdmin(ev.node, ev.at) ? undefined : 'not-owner'
  if (ev.type === 'finished' && ev.result?.cacheHit === true) {
    // a cache hit is its submitter's own shortcut: it finishes a job nobody has run, never a run
    if (ev.node !== row.submitter) return 'cache-hit-not-submitter'
    if (row.state !== 'queued' || (row.epoch ?? 0) !== 0 || (ev.epoch ?? 0) !== 0 || ev.ran != null) return 'cache-hit-not-queued'
  }
  return undefined
}
