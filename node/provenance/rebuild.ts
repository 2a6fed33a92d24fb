/**
 * `verify --rebuild`: the job that re-runs an earlier result on another member. Its spec is the
 * original's with a `rebuild` field naming the job, its statement and its builder (which may not
 * claim it), under a name of its own so it neither supersedes nor is superseded by the
 * original's name, and never served from the result cache.
 */
import { MAX_NAME_LENGTH } from '../../protocols/job/index.js'
import { InvalidInputError } from '../errors.js'
import type { JobSpec } from '../../protocols/job/types.js'
import type { JobRow } from '../jobs/types.js'

export const REBUILD_SUFFIX = '.rebuild'

/** the spec of a rebuild of `row` (a job that succeeded and has a statement) */
export function rebuildSpec (row: JobRow): JobSpec {
  if (row.state !== 'succeeded' || row.provenance == null || row.executor == null) {
    throw new InvalidInputError(`job ${row.id} is ${row.state}${row.provenance == null ? ' and has no statement' : ''}: only a succeeded job with a statement can be rebuilt`)
  }
  if (row.spec.rebuild != null) throw new InvalidInputError(`job ${row.id} is itself a rebuild: rebuild ${row.spec.rebuild.of} instead`)
  const base = row.name.slice(0, MAX_NAME_LENGTH - REBUILD_SUFFIX.length)
  return {
    ...row.spec,
    name: `${base}${REBUILD_SUFFIX}`,
    cache: false,
    supersede: 'none',
    rebuild: { of: row.id, statement: row.provenance, builder: row.executor }
  }
}
