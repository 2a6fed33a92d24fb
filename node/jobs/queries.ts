import { JOB_STATES } from '../../protocols/job/records.js'
import { InvalidInputError } from '../errors.js'
import { JobStore } from './job-store.js'
import type { JobService } from './job-service.js'
import type { JobRow } from './types.js'
import type { JobListItem, JobPage, JobQuery, JobWatchEvent, JobWatcher } from '../control/types.js'
import type { JobEvent } from '../../protocols/job/records.js'

/** page size of the jobs list when none is asked for */
export const DEFAULT_PAGE = 50
/** the largest page */
export const MAX_PAGE = 500
/** rows looked at per request at most: a filter matching little returns a short page and a cursor */
export const MAX_SCAN = 20_000

/**
 * Read-side queries over the jobs a node knows: the filtered, paged list and a subscription to
 * every event (for the HTTP face's pages, live views and metrics).
 */
export class JobQueries {
  constructor (private readonly c: { jobs: JobService }) {}

  async find (q: JobQuery): Promise<JobPage> {
    const limit = checkQuery(q)
    const jobs: JobListItem[] = []
    let scanned = 0
    let last: JobRow | undefined
    for await (const stored of this.c.jobs.store.list({ newestFirst: true, before: q.cursor })) {
      last = stored
      if (++scanned > MAX_SCAN) break
      const row = (await this.c.jobs.get(stored.id)) ?? stored
      if (!matches(row, q)) continue
      // a cache hit's executor is the node that ran the job its result came from
      jobs.push({ ...listItem(row), executor: await this.c.jobs.executorOf(row) })
      if (jobs.length >= limit) break
    }
    // a full page or a scan cut short may have more behind it
    const more = last != null && (jobs.length >= limit || scanned > MAX_SCAN)
    return { jobs, next: more ? JobStore.cursorOf(last!) : null }
  }

  watch (watcher: JobWatcher): () => void {
    const onEvent = (ev: JobEvent, row: JobRow | undefined): void => {
      try {
        const out: JobWatchEvent = { job: ev.job, type: ev.type, node: ev.node, at: ev.at, state: ev.state, reason: ev.reason, epoch: ev.epoch }
        if (ev.result != null) out.wallMs = ev.result.usage.wallMs
        watcher(out, row != null ? listItem(row) : undefined)
      } catch {
        // a watcher's failure is its own: the job service goes on
      }
    }
    this.c.jobs.on('event', onEvent)
    return () => { this.c.jobs.off('event', onEvent) }
  }
}

function checkQuery (q: JobQuery): number {
  const problems: Array<{ path: string, message: string }> = []
  const limit = q.limit ?? DEFAULT_PAGE
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) problems.push({ path: 'limit', message: `must be a whole number from 1 to ${MAX_PAGE}` })
  for (const s of q.state ?? []) if (!(JOB_STATES as readonly string[]).includes(s)) problems.push({ path: 'state', message: `unknown state ${JSON.stringify(s)}: one of ${JOB_STATES.join(', ')}` })
  if (q.node != null && !/^[1-9A-HJ-NP-Za-km-z]{6,64}$/.test(q.node)) problems.push({ path: 'node', message: 'must be a peer id or at least 6 of its first characters' })
  if (q.cursor != null && !/^\d{15}\/[0-9a-f]{64}$/.test(q.cursor)) problems.push({ path: 'cursor', message: 'must be the `next` of an earlier page' })
  if (problems.length > 0) throw new InvalidInputError(problems.map(p => `${p.path}: ${p.message}`).join('; '), problems)
  return limit
}

function matches (row: JobRow, q: JobQuery): boolean {
  if (q.state != null && q.state.length > 0 && !q.state.includes(row.state)) return false
  if (q.name != null && row.name !== q.name) return false
  if (q.repo != null && sourceOf(row)?.repo !== q.repo) return false
  if (q.node != null && !(row.executor ?? '').startsWith(q.node) && !row.origin.startsWith(q.node)) return false
  return true
}

/** the trigger's source of a job: a `source` on the row (triggers) or the CIT_* parameters */
function sourceOf (row: JobRow): JobListItem['source'] | undefined {
  const s = (row as JobRow & { source?: JobListItem['source'] }).source
  if (s != null) return s
  const p = row.params
  if (p.CIT_REPO == null && p.CIT_COMMIT == null) return undefined
  return { repo: p.CIT_REPO, commit: p.CIT_COMMIT, ref: p.CIT_REF ?? p.CIT_BRANCH }
}

/** the list row of a job */
export function listItem (row: JobRow): JobListItem {
  const build = (row as JobRow & { build?: number }).build
  const source = sourceOf(row)
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    priority: row.priority,
    submitter: row.submitter,
    executor: row.executor ?? null,
    cacheHit: row.cacheHit === true,
    submittedAt: row.submittedAt,
    origin: row.origin,
    exitCode: row.exitCode ?? null,
    reason: row.reason ?? null,
    startedAt: row.startedAt ?? null,
    finishedAt: row.finishedAt ?? null,
    ...(build != null ? { build } : {}),
    ...(source != null ? { source } : {})
  }
}
