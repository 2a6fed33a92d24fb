import { isFinal } from '../../protocols/job/records.js'
import { AmbiguousJobError, JobNotFoundError } from '../errors.js'
import type { Signed } from '../../protocols/codec/index.js'
import type { JobAnnouncement, JobEvent } from '../../protocols/job/records.js'
import type { MetaOp, MetaStore, RecordLog } from '../../store/meta/index.js'
import { refusal } from './authority.js'
import type { IsAdmin } from './authority.js'
import type { Certify } from './fence.js'
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
  const row: JobRow = {
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
    announced,
    ...(a.runOn != null ? { runOn: a.runOn } : {})
  }
  if (a.acceptors != null) row.acceptors = a.acceptors
  if (a.source != null) row.source = a.source
  if (a.build != null) row.build = a.build
  return row
}

/** where an event stands in its epoch's run: a row never goes back to an earlier point */
const PHASE: Partial<Record<JobEvent['type'], number>> = { claimed: 0, started: 1, requeued: 2, 'lease-lost': 2 }

/**
 * Apply one event to a row; returns whether the row changed. Final states are final: once a job
 * has its result (certified by its acceptors in a mesh, see `Certify`) nothing replaces it, and
 * the acceptors certify at most one result per job. Run events of one job are ordered by
 * (epoch, phase) whatever order they arrive in, so every node converges on the same row; a
 * run event the fence does not certify changes nothing.
 */
export function applyEvent (row: JobRow, ev: JobEvent, certify: Certify = () => true, isAdmin: IsAdmin = () => false): boolean {
  if (isFinal(row.state)) return false
  if (refusal(row, ev, isAdmin) != null) return false
  const phase = PHASE[ev.type]
  if (phase != null) {
    const epoch = ev.epoch ?? 0
    const [rowEpoch, rowPhase] = [row.epoch ?? 0, row.phase ?? -1]
    if (epoch < rowEpoch || (epoch === rowEpoch && phase <= rowPhase)) return false
    // a run given up: its holder's word about the run the row shows, or, arriving before that
    // run's start, with the lease's grants to show it held it
    if (phase === 2 && !(epoch === rowEpoch && ev.node === row.executor) && !certify(row, ev)) return false
  }
  if ((ev.type === 'started' || ev.type === 'claimed' || ev.type === 'finished' || ev.type === 'failed') && !certify(row, ev)) return false
  row.updatedAt = Math.max(row.updatedAt, ev.at)
  switch (ev.type) {
    case 'claimed': case 'started':
      row.state = ev.type === 'claimed' ? 'claimed' : 'running'
      row.executor = ev.node
      row.epoch = ev.epoch ?? row.epoch
      row.phase = phase
      row.reason = ev.reason
      row.grants = ev.cert
      if (ev.type === 'started') row.startedAt = ev.at
      return true
    case 'finished': {
      const r = ev.result
      if (r == null) return false
      row.state = r.state
      row.executor = ev.ran ?? ev.node
      row.epoch = ev.epoch ?? row.epoch
      row.phase = 3
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
        row.executor = ev.ran ?? ev.node
        row.epoch = ev.epoch ?? row.epoch
        row.phase = 3
      }
      return true
    case 'requeued': case 'lease-lost':
      row.state = 'queued'
      row.executor = undefined
      row.epoch = ev.epoch ?? row.epoch
      row.phase = 2
      if (ev.cert != null) row.grants = ev.cert
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
  /** in a mesh, the acceptors' fence on run events (see `meshFence`) */
  certify: Certify = () => true
  /** in a mesh, whether a key is an admin now (who may cancel, supersede or reprioritise others' jobs) */
  isAdmin: IsAdmin = () => false

  constructor (private readonly meta: MetaStore, private readonly log: RecordLog) {}

  /** whether this node holds the signed record with this hash (an announcement or an event) */
  async hasRecord (hash: string): Promise<boolean> {
    return await this.log.has(hash)
  }

  /**
   * Persist a new job (announcement + row + its first event, and any events that follow at once,
   * such as a cache hit's `finished`) in one batch, synced to disk before returning.
   */
  async create (row: JobRow, announcement: Uint8Array, first: Signed<JobEvent>, more: Array<Signed<JobEvent>> = []): Promise<void> {
    for (const ev of [first, ...more]) applyEvent(row, ev.payload, this.certify, this.isAdmin)
    await this.meta.batch([
      ...this.announcementOps(row, announcement),
      ...[first, ...more].flatMap(ev => this.eventOps(ev)),
      { type: 'put', table: T_JOBS, key: row.id, value: row }
    ], { sync: true })
  }

  /**
   * Persist a job announced by a peer. Events that arrived before it (gossip does not keep
   * order) are applied first, in time order. Not synced: a peer's announcement lost to a power
   * cut comes back with the first sync after the restart (its submitter synced it), and nothing
   * this node promised depends on it: an acceptor's grant or vote is synced on its own, and every
   * claim carries the announcement again. Its record log number may be lost with it: the log takes
   * a new id after an unclean stop, so peers pull it again from the start (store/meta/record-log.ts).
   * Syncing it cost every member one fsync per job, and an acceptor hearing of the job with a
   * claim a second fsync before its grant.
   */
  async addRemote (row: JobRow, announcement: Uint8Array): Promise<void> {
    // in (epoch, phase) order, so that a run's events that came out of order all count
    const early: JobEvent[] = []
    // an event whose node is not its signer speaks for someone else: it counts for nothing
    for await (const [, stored] of this.storedEvents(row.id)) if (stored.by === stored.event.node) early.push(stored.event)
    early.sort((a, b) => (a.epoch ?? 0) - (b.epoch ?? 0) || (PHASE[a.type] ?? 3) - (PHASE[b.type] ?? 3))
    for (const ev of early) applyEvent(row, ev, this.certify, this.isAdmin)
    await this.meta.batch([
      ...this.announcementOps(row, announcement),
      { type: 'put', table: T_JOBS, key: row.id, value: row }
    ])
  }

  /** Record an event and the row it changes (if any: an event may arrive before its job), atomically. */
  async record (row: JobRow | undefined, ev: Signed<JobEvent>, options: { sync?: boolean } = {}): Promise<boolean> {
    // the row may be the shared in-memory copy that readers see: it changes only once the event
    // and the row are on disk, so nobody reads a state whose event is not stored yet
    const next = row != null ? structuredClone(row) : undefined
    const changed = next != null && applyEvent(next, ev.payload, this.certify, this.isAdmin)
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
    // `show e4`: too short to be taken as a prefix, and no job has that name
    if (r.length > 0 && r.length < MIN_PREFIX && /^[0-9a-f]+$/.test(r)) throw new JobNotFoundError(ref, `a prefix of a job id needs at least ${MIN_PREFIX} hex digits`)
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
      out.push(eventView(stored.event, stored.by, key.slice(key.lastIndexOf('/') + 1)))
    }
    return out
  }

  /** A job's stored events of one type, as signed (payloads in time order). */
  async eventsOfType (id: string, type: JobEvent['type']): Promise<JobEvent[]> {
    const out: JobEvent[] = []
    for await (const [, stored] of this.storedEvents(id)) if (stored.event.type === type) out.push(stored.event)
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

/** an event as `show` lists it: what it says, who signed it, its envelope's hash */
export function eventView (e: JobEvent, by: string, hash: string): EventView {
  return { type: e.type, node: e.node, by, at: e.at, state: e.state, reason: e.reason, hash }
}
