import { isFinal } from '../../protocols/job/records.js'
import { AmbiguousJobError, JobNotFoundError } from '../errors.js'
import type { Signed } from '../../protocols/codec/index.js'
import type { JobAnnouncement, JobEvent } from '../../protocols/job/records.js'
import type { MetaOp, MetaStore, RecordLog } from '../../store/meta/index.js'
import type { EventView, JobRow } from './types.js'

const T_JOBS = 'jobs'
const T_ANNOUNCEMENTS = 'announcements'
const T_EVENTS = 'events'
const T_BY_TIME = 'jobs-by-time'
const T_CACHE = 'result-cache'
const MIN_PREFIX = 4

interface StoredEvent {
  bytes: Uint8Array
  by: string
  event: JobEvent
}

function pad (n: number): string {
  return String(Math.max(0, Math.floor(n))).padStart(15, '0')
}

/** The row a new announcement creates. */
export function rowFromAnnouncement (signed: Signed<JobAnnouncement>, announced: boolean): JobRow {
  const a = signed.payload
  return {
    id: signed.hash,
    name: a.spec.name,
    state: 'queued',
    priority: a.priority,
    submitter: signed.signer,
    origin: a.node,
    submittedAt: a.submittedAt,
    updatedAt: a.submittedAt,
    spec: a.spec,
    params: a.params,
    announced
  }
}

/**
 * Apply one event to a row. Final states are final: a late or duplicate event never reopens a job.
 * Returns whether the row changed.
 */
export function applyEvent (row: JobRow, ev: JobEvent): boolean {
  const stale = ev.epoch != null && row.epoch != null && ev.epoch < row.epoch
  if (isFinal(row.state)) {
    // a result of a newer lease epoch replaces one of an older epoch (a fenced executor's result
    // that some node saw first), and so does it a failure its executor recorded when it restarted
    // after others had taken the job over: every node converges on the result of the highest epoch
    const replaceable = row.exitCode !== undefined || row.state === 'failed'
    if (ev.type !== 'finished' || !replaceable || ev.epoch == null) return false
    // two results of one epoch: a partition let both sides claim it (each side's DHT saw only its
    // own lease). Whichever arrived first must not decide, or the sides keep different results:
    // the lower executor id wins, on every node alike
    const rival = ev.epoch === row.epoch && row.exitCode !== undefined && row.executor != null && ev.node < row.executor
    if (ev.epoch <= (row.epoch ?? 0) && !rival) return false
  } else if (stale) {
    return false
  }
  row.updatedAt = Math.max(row.updatedAt, ev.at)
  switch (ev.type) {
    case 'claimed':
      if (ev.epoch != null && row.epoch != null && ev.epoch === row.epoch && row.executor != null && row.executor !== ev.node) return false
      row.state = 'claimed'
      row.executor = ev.node
      row.epoch = ev.epoch ?? row.epoch
      row.reason = undefined
      return true
    case 'started':
      row.state = 'running'
      row.executor = ev.node
      row.epoch = ev.epoch ?? row.epoch
      row.startedAt = ev.at
      return true
    case 'finished': {
      const r = ev.result
      if (r == null) return false
      row.state = r.state
      row.executor = ev.node
      row.epoch = ev.epoch ?? row.epoch
      row.exitCode = r.exitCode
      row.reason = r.reason
      row.usage = r.usage
      row.log = r.log
      row.artefacts = r.artefacts
      row.cacheHit = r.cacheHit
      row.cachedFrom = r.cachedFrom
      row.nix = r.nix
      row.provenance = r.provenance
      row.rebuild = r.rebuild
      row.finishedAt = ev.at
      return true
    }
    case 'cancelled': case 'superseded': case 'failed':
      row.state = ev.type
      row.reason = ev.reason
      row.finishedAt = ev.at
      // a failure is its executor's own record (its claim may not have arrived here yet)
      if (ev.type === 'failed') {
        row.executor = ev.node
        row.epoch = ev.epoch ?? row.epoch
      }
      return true
    case 'requeued':
      row.state = 'queued'
      row.executor = undefined
      row.reason = ev.reason
      return true
    case 'reprioritized':
      if (row.state !== 'queued' || ev.priority == null) return false
      row.priority = ev.priority
      return true
    default:
      return false
  }
}

/**
 * Jobs, their signed announcements and signed events in the metadata store. Every change to a
 * job is one atomic batch: the event and the row it updates land together.
 */
export class JobStore {
  constructor (private readonly meta: MetaStore, private readonly log: RecordLog) {}

  /** whether this node holds the signed record with this hash (an announcement or an event) */
  async hasRecord (hash: string): Promise<boolean> {
    return await this.log.has(hash)
  }

  /** Persist a new job (announcement + row + its first event), synced to disk before returning. */
  async create (row: JobRow, announcement: Uint8Array, first: Signed<JobEvent>): Promise<void> {
    applyEvent(row, first.payload)
    await this.meta.batch([
      ...this.announcementOps(row, announcement),
      ...this.eventOps(first),
      { type: 'put', table: T_JOBS, key: row.id, value: row }
    ], { sync: true })
  }

  /**
   * Persist a job announced by a peer. Events that arrived before it (gossip does not keep
   * order) are applied first, in time order.
   */
  async addRemote (row: JobRow, announcement: Uint8Array): Promise<void> {
    for await (const [, stored] of this.storedEvents(row.id)) applyEvent(row, stored.event)
    await this.meta.batch([
      ...this.announcementOps(row, announcement),
      { type: 'put', table: T_JOBS, key: row.id, value: row }
    ], { sync: true })
  }

  /** Record an event and the row it changes (if any: an event may arrive before its job), atomically. */
  async record (row: JobRow | undefined, ev: Signed<JobEvent>, options: { sync?: boolean } = {}): Promise<boolean> {
    // the row may be the shared in-memory copy that readers see: it changes only once the event
    // and the row are on disk, so nobody reads a state whose event is not stored yet
    const next = row != null ? structuredClone(row) : undefined
    const changed = next != null && applyEvent(next, ev.payload)
    const ops: MetaOp[] = this.eventOps(ev)
    if (changed) ops.push({ type: 'put', table: T_JOBS, key: next.id, value: next })
    await this.meta.batch(ops, options)
    if (changed) Object.assign(row!, next)
    return changed
  }

  /** a job's stored events in time order (keys sort by time) */
  private storedEvents (id: string): AsyncGenerator<[string, StoredEvent]> {
    return this.meta.table<StoredEvent>(T_EVENTS).entries({ prefix: `${id}/` })
  }

  private announcementOps (row: JobRow, announcement: Uint8Array): MetaOp[] {
    return [
      { type: 'put', table: T_ANNOUNCEMENTS, key: row.id, value: announcement },
      { type: 'put', table: T_BY_TIME, key: `${pad(row.submittedAt)}/${row.id}`, value: 1 },
      ...this.log.appendOps(row.id, announcement)
    ]
  }

  /** the result cache: the job whose result serves this input key */
  async rememberResult (key: string, job: string): Promise<void> {
    await this.meta.batch([{ type: 'put', table: T_CACHE, key, value: job }])
  }

  async resultFor (key: string): Promise<string | undefined> {
    return await this.meta.table<string>(T_CACHE).get(key)
  }

  async update (row: JobRow): Promise<void> {
    await this.meta.batch([{ type: 'put', table: T_JOBS, key: row.id, value: row }])
  }

  async get (id: string): Promise<JobRow | undefined> {
    return await this.meta.table<JobRow>(T_JOBS).get(id)
  }

  async announcement (id: string): Promise<Uint8Array | undefined> {
    return await this.meta.table<Uint8Array>(T_ANNOUNCEMENTS).get(id)
  }

  /**
   * Find a job by full id, unique id prefix (at least 4 hex digits) or name (its newest job).
   */
  async resolve (ref: string): Promise<JobRow> {
    const r = ref.trim().toLowerCase().replace(/^sha256:/, '')
    if (/^[0-9a-f]{64}$/.test(r)) {
      const row = await this.get(r)
      if (row == null) throw new JobNotFoundError(ref)
      return row
    }
    if (r.length >= MIN_PREFIX && /^[0-9a-f]+$/.test(r)) {
      const ids: string[] = []
      for await (const key of this.meta.table(T_JOBS).keys({ prefix: r, limit: 2 })) ids.push(key)
      if (ids.length > 1) throw new AmbiguousJobError(ref, ids.length)
      if (ids.length === 1) return (await this.get(ids[0]))!
    }
    for await (const row of this.list({ newestFirst: true })) {
      if (row.name === ref) return row
    }
    throw new JobNotFoundError(ref)
  }

  /** Every job, in no particular order: one pass over the table, for scans at start-up. */
  async * all (options: { signal?: AbortSignal } = {}): AsyncGenerator<JobRow> {
    for await (const [, row] of this.meta.table<JobRow>(T_JOBS).entries({ signal: options.signal })) yield row
  }

  /** Jobs by submission time; `before` (a `cursorOf` value) starts after that job, newest first. */
  async * list (options: { newestFirst?: boolean, limit?: number, signal?: AbortSignal, before?: string } = {}): AsyncGenerator<JobRow> {
    const jobs = this.meta.table<JobRow>(T_JOBS)
    const range = options.before != null ? { lt: options.before } : {}
    for await (const key of this.meta.table(T_BY_TIME).keys({ reverse: options.newestFirst ?? false, limit: options.limit, signal: options.signal, ...range })) {
      const row = await jobs.get(key.slice(key.indexOf('/') + 1))
      if (row != null) yield row
    }
  }

  /** a job's place in the time index: pass it as `before` to list the jobs older than it */
  static cursorOf (row: Pick<JobRow, 'submittedAt' | 'id'>): string {
    return `${pad(row.submittedAt)}/${row.id}`
  }

  /** A job's events in time order, with who signed each. */
  async events (id: string): Promise<EventView[]> {
    const out: EventView[] = []
    for await (const [key, stored] of this.storedEvents(id)) {
      const e = stored.event
      out.push({ type: e.type, node: e.node, by: stored.by, at: e.at, state: e.state, reason: e.reason, hash: key.slice(key.lastIndexOf('/') + 1) })
    }
    return out
  }

  private eventOps (ev: Signed<JobEvent>): MetaOp[] {
    const stored: StoredEvent = { bytes: ev.bytes, by: ev.signer, event: ev.payload }
    return [
      { type: 'put', table: T_EVENTS, key: `${ev.payload.job}/${pad(ev.payload.at)}/${ev.hash}`, value: stored },
      ...this.log.appendOps(ev.hash, ev.bytes)
    ]
  }
}
