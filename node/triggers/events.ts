/**
 * The event export (`cit-node events`): every job announcement, job event and result this node
 * holds, in the order its record log took them, as one JSON object each. The cursor is the log's
 * sequence number, so a reader resumes where it stopped; `logId` changes when the database is
 * wiped, and a reader holding an old cursor then starts over.
 */
import { open } from '../../protocols/codec/index.js'
import { InvalidInputError } from '../errors.js'
import type { JobAnnouncement, JobEvent } from '../../protocols/job/records.js'
import type { RecordLog } from '../../store/meta/index.js'

/** most records one page reads */
export const MAX_EVENTS_PAGE = 1000
const PAGE_BYTES = 4 * 1024 * 1024

export interface ExportedEvent {
  cursor: number
  /** `submitted` for an announcement, else the event's type (`finished` carries the result) */
  type: string
  job: string
  node: string
  /** key id that signed it */
  by: string
  at: number
  name?: string
  state?: string
  reason?: string
  priority?: number
  build?: number
  source?: JobAnnouncement['source']
  result?: Omit<NonNullable<JobEvent['result']>, never>
  epoch?: number
}

export interface EventsPage { logId: string, events: ExportedEvent[], cursor: number }

/** the records after `after` (0: from the start), job records only */
export async function readEvents (log: RecordLog, after: number, limit = MAX_EVENTS_PAGE): Promise<EventsPage> {
  if (!Number.isSafeInteger(after) || after < 0) throw new InvalidInputError('after: a cursor (a whole number ≥ 0)')
  const page = await log.readAfter(after, Math.max(1, Math.min(limit, MAX_EVENTS_PAGE)), PAGE_BYTES)
  const events: ExportedEvent[] = []
  let cursor = after
  for (const item of page.items) {
    cursor = item.seq
    let s
    try { s = open(item.bytes) } catch { continue }
    if (s.type === 'job') {
      const a = s.payload as JobAnnouncement
      events.push({ cursor: item.seq, type: 'submitted', job: s.hash, node: a.node, by: s.signer, at: a.submittedAt, name: a.spec.name, priority: a.priority, ...(a.build != null ? { build: a.build } : {}), ...(a.source != null ? { source: a.source } : {}) })
    } else if (s.type === 'event') {
      const e = s.payload as JobEvent
      if (e.type === 'submitted') continue
      const { cert: _cert, ...rest } = e
      events.push({ cursor: item.seq, ...rest, by: s.signer })
    }
  }
  return { logId: log.logId, events, cursor }
}
