import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { seal } from '../../protocols/codec/index.js'
import { isFinal } from '../../protocols/job/records.js'
import { JobNotFoundError } from '../errors.js'
import { type JobStore, eventView, rowFromAnnouncement } from './job-store.js'
import { inputKey } from '../../protocols/job/input-key.js'
import { keyParams } from '../../protocols/job/source.js'
import type { JobSource } from '../../protocols/job/source.js'
import { LiveOutput } from './live-output.js'
import type { Identity, Signed } from '../../protocols/codec/index.js'
import type { EventType, JobAnnouncement, JobEvent, JobResult } from '../../protocols/job/records.js'
import type { JobSpec } from '../../protocols/job/types.js'
import type { Logger } from '../../store/logger.js'
import type { EventView, JobRow, JobSummary, JobView } from './types.js'

export interface JobServiceComponents {
  identity: Identity
  store: JobStore
  logger: Logger
  now?: () => number
  /** in a mesh: the acceptors a new job names (chosen by its nonce) and the digest of the builder set they come from */
  acceptorsFor?: (nonce: string) => { acceptors: string[], trust: string } | undefined
  /** in a mesh: its id, named by every announcement and event this node signs */
  mesh?: string
}

/** what an event may carry besides job, type, node and time */
export type EventExtra = Pick<JobEvent, 'state' | 'reason' | 'result' | 'epoch' | 'priority' | 'cert' | 'ran'>

export interface SubmitRequest {
  spec: JobSpec
  params: Record<string, string>
  priority?: number
  /**
   * an earlier job's result to reuse (the result cache): the job is finished at once, never run.
   * `executor`, when given, is the node that ran `from` (the hit's answer names it without reading `from` again)
   */
  cached?: { from: string, result: JobResult, executor?: string | null }
  /** only this node may run it (`cit-node run`) */
  runOn?: string
  /** a trigger's repository and commit, and the build number */
  source?: JobSource
  build?: number
}

export interface JobServiceEvents {
  /** a job was created or changed state */
  change: [JobRow]
  /** an event was recorded (from this node or a peer); row is undefined when its job is not known yet */
  event: [JobEvent, JobRow | undefined]
  /**
   * this node signed a new record (`job` or `event`): the mesh publishes it. `together`, when
   * given, lists the records signed with it (a cache hit's announcement, `submitted` and
   * `finished`), each of which is emitted too: the mesh may send them as one message.
   */
  signed: [Signed<unknown>, Array<Signed<unknown>>?]
}

/**
 * The jobs this node knows: submission, signed state changes, live output and waiting.
 * Every state change is a signed event recorded with the row it changes.
 */
export class JobService extends EventEmitter<JobServiceEvents> {
  readonly store: JobStore
  private readonly identity: Identity
  private readonly log: Logger
  private readonly now: () => number
  private readonly acceptorsFor?: JobServiceComponents['acceptorsFor']
  private readonly mesh?: string
  private readonly live = new Map<string, LiveOutput>()
  /** the one in-memory copy of each unfinished job, so concurrent changes never overwrite each other */
  private readonly active = new Map<string, JobRow>()
  /** per-job chain of writes: events of one job are recorded one at a time, in order */
  private readonly chains = new Map<string, Promise<unknown>>()

  constructor (components: JobServiceComponents) {
    super()
    this.setMaxListeners(0)
    this.store = components.store
    this.identity = components.identity
    this.log = components.logger
    this.now = components.now ?? Date.now
    this.acceptorsFor = components.acceptorsFor
    this.mesh = components.mesh
  }

  get nodeId (): string { return this.identity.id }

  /** Sign and persist a new job; it is on disk (synced) when this returns. */
  async submit (req: SubmitRequest): Promise<JobRow> {
    return (await this.create(req)).row
  }

  /**
   * `submit`, and the job's `show` document as written: made from the row and events just
   * stored, before anything else can change them, rather than read back from disk (the reply to
   * a submission, a cache hit's whole answer, waited on that read behind the gossip of the
   * records it had just published).
   */
  async submitWithView (req: SubmitRequest): Promise<{ row: JobRow, view: JobView }> {
    const { row, written, events } = await this.create(req)
    return { row, view: await this.viewOf(written, events.map(ev => eventView(ev.payload, ev.signer, ev.hash)), req.cached?.executor) }
  }

  /** sign and store a new job; `written` is a copy of its row as stored, `events` its events */
  private async create (req: SubmitRequest): Promise<{ row: JobRow, written: JobRow, events: Array<Signed<JobEvent>> }> {
    const announcement: JobAnnouncement = {
      spec: req.spec,
      params: req.params,
      priority: req.priority ?? req.spec.priority,
      submittedAt: this.now(),
      node: this.identity.id,
      nonce: randomBytes(8).toString('hex'),
      // a cache hit is pinned to its submitter, which has it finished: a peer that hears the
      // announcement before its `finished` never claims and runs it
      ...(req.runOn != null ? { runOn: req.runOn } : req.cached != null ? { runOn: this.identity.id } : {}),
      ...(this.mesh != null ? { mesh: this.mesh } : {}),
      ...(req.source != null ? { source: req.source } : {}),
      ...(req.build != null ? { build: req.build } : {})
    }
    const lease = this.acceptorsFor?.(announcement.nonce)
    if (lease != null) Object.assign(announcement, lease)
    const signed = seal(this.identity, 'job', announcement)
    const row = rowFromAnnouncement(signed, true)
    const first = this.sealEvent(row.id, 'submitted', { state: 'queued' })
    if (req.cached != null) {
      // a cache hit is stored finished, in the same synced write: no node ever sees it queued,
      // and it costs one fsync (its `finished` is stamped after `submitted`, so they sort in order)
      const result: JobResult = { ...req.cached.result, cacheHit: true, cachedFrom: req.cached.from }
      const finished = this.sealEvent(row.id, 'finished', { state: result.state, result, epoch: 0 }, first.payload.at + 1)
      await this.store.create(row, signed.bytes, first, [finished])
      const written = structuredClone(row)
      this.log.info('job submitted', { job: row.id, name: row.name, priority: row.priority })
      this.log.info('result cache hit', { job: row.id, from: req.cached.from })
      const together = [signed, first, finished]
      for (const s of together) this.emit('signed', s, together)
      this.emit('event', finished.payload, row)
      this.emit('change', row)
      return { row, written, events: [first, finished] }
    }
    await this.store.create(row, signed.bytes, first)
    // copied before any listener hears of it: the runner may change the shared row from now on
    const written = structuredClone(row)
    this.active.set(row.id, row)
    this.log.info('job submitted', { job: row.id, name: row.name, priority: row.priority })
    this.emit('signed', signed)
    this.emit('signed', first)
    this.emit('change', row)
    return { row, written, events: [first] }
  }

  /**
   * The newest succeeded job with this spec and params' input key, if its result is cacheable.
   * The index only points at a job: the job it names must itself have these inputs (an entry
   * pointing elsewhere, by a bug or by hand, is not used) and have succeeded with a log.
   */
  async cachedResult (spec: JobSpec, params: Record<string, string>, source?: JobSource): Promise<{ from: string, result: JobResult, executor: string | null } | undefined> {
    const key = inputKey(spec, keyParams(params, source))
    const id = await this.store.resultFor(key)
    const row = id == null ? undefined : await this.get(id)
    if (row == null || row.state !== 'succeeded' || row.log == null || row.usage == null) return undefined
    if (!row.spec.cache || inputKey(row.spec, keyParams(row.params, row.source)) !== key) {
      this.log.warn('result cache entry ignored: its job has other inputs', { key, job: row.id })
      return undefined
    }
    const from = row.cachedFrom ?? row.id
    return {
      from,
      // the node that ran it (the entry may name an earlier hit, whose own executor ran nothing)
      executor: await this.executorOf(row),
      // the statement stays the original's: it names the job that built these bytes
      result: { state: 'succeeded', exitCode: row.exitCode ?? 0, usage: row.usage, log: row.log, artefacts: row.artefacts ?? [], nix: row.nix, provenance: row.provenance }
    }
  }

  /** The current row of a job: the shared in-memory copy while it is unfinished. */
  async get (id: string): Promise<JobRow | undefined> {
    const cached = this.active.get(id)
    if (cached != null) return cached
    const row = await this.store.get(id)
    if (row == null) return undefined
    // re-check: another call may have cached it while we read
    const again = this.active.get(id)
    if (again != null) return again
    if (!isFinal(row.state)) this.active.set(id, row)
    return row
  }

  /** Resolve a user's reference (id, id prefix or name) to the current row. */
  async resolve (ref: string): Promise<JobRow> {
    const row = await this.store.resolve(ref)
    return (await this.get(row.id)) ?? row
  }

  /**
   * Sign an event of this node about a job, record it with the row it changes and tell listeners.
   * Events of one job are serialised; an event for a finished job is recorded but changes nothing.
   */
  async transition (id: string, type: EventType, extra: EventExtra = {}): Promise<JobRow> {
    return await this.serialised(id, async () => await this.transitionNow(id, type, extra))
  }

  private async transitionNow (id: string, type: EventType, extra: EventExtra): Promise<JobRow> {
    const row = await this.get(id)
    if (row == null) throw new JobNotFoundError(id)
    // a finished job is finished: late events from this node are not recorded at all
    if (isFinal(row.state)) return row
    const ev = this.sealEvent(id, type, extra)
    // the final result is synced: a crash right after must not lose an accepted outcome
    await this.recordNow(row, ev, extra.result != null)
    this.emit('signed', ev)
    return row
  }

  private async recordNow (row: JobRow | undefined, ev: Signed<JobEvent>, sync: boolean): Promise<void> {
    const changed = await this.store.record(row, ev, { sync })
    if (changed && row?.state === 'succeeded' && row.spec.cache) await this.store.rememberResult(inputKey(row.spec, keyParams(row.params, row.source)), row.id)
    if (row != null && isFinal(row.state)) this.active.delete(row.id)
    this.log.debug('job event', { job: ev.payload.job, type: ev.payload.type, state: row?.state })
    this.emit('event', ev.payload, row)
    if (changed && row != null) this.emit('change', row)
  }

  /**
   * A job announced by a peer (already verified and authorised). Returns false for one already
   * known. Its events that came first are applied.
   */
  async ingestAnnouncement (signed: Signed<JobAnnouncement>): Promise<boolean> {
    return await this.serialised(signed.hash, async () => {
      if (await this.store.hasRecord(signed.hash)) return false
      const row = rowFromAnnouncement(signed, true)
      await this.store.addRemote(row, signed.bytes)
      if (!isFinal(row.state)) this.active.set(row.id, row)
      this.log.info('job announced by a peer', { job: row.id, name: row.name, submitter: row.submitter })
      this.emit('change', row)
      return true
    })
  }

  /** An event signed by a peer (already verified and authorised). Returns false for one already known. */
  async ingestEvent (signed: Signed<JobEvent>): Promise<boolean> {
    return await this.serialised(signed.payload.job, async () => {
      if (await this.store.hasRecord(signed.hash)) return false
      await this.recordNow(await this.get(signed.payload.job), signed, signed.payload.result != null)
      return true
    })
  }

  /** run `fn` after every earlier change of the same job */
  private async serialised<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    this.chains.set(key, next)
    try {
      return await next
    } finally {
      if (this.chains.get(key) === next) this.chains.delete(key)
    }
  }

  private sealEvent (job: string, type: EventType, extra: EventExtra, notBefore = 0): Signed<JobEvent> {
    const ev: JobEvent = { job, type, node: this.identity.id, at: Math.max(this.now(), notBefore), ...extra, ...(this.mesh != null ? { mesh: this.mesh } : {}) }
    return seal(this.identity, 'event', ev)
  }

  /** the name of an unfinished job held in memory (for workspaces in use) */
  liveName (id: string): string | undefined {
    return this.active.get(id)?.name
  }

  /** The live output of a running job, created when it starts. */
  liveOutput (id: string, create = false): LiveOutput | undefined {
    let out = this.live.get(id)
    if (out == null && create) {
      out = new LiveOutput()
      this.live.set(id, out)
    }
    return out
  }

  /** end a job's live output; it is removed once nobody can still be joining */
  endLiveOutput (id: string): void {
    const out = this.live.get(id)
    if (out == null) return
    out.end()
    this.live.delete(id)
  }

  /** Resolve when the job reaches a final state. */
  async waitFinal (id: string, options: { signal?: AbortSignal } = {}): Promise<JobRow> {
    const current = await this.get(id)
    if (current != null && isFinal(current.state)) return current
    return await new Promise<JobRow>((resolve, reject) => {
      const onChange = (row: JobRow): void => {
        if (row.id === id && isFinal(row.state)) { cleanup(); resolve(row) }
      }
      const onAbort = (): void => { cleanup(); reject(options.signal?.reason) }
      const cleanup = (): void => {
        this.off('change', onChange)
        options.signal?.removeEventListener('abort', onAbort)
      }
      this.on('change', onChange)
      options.signal?.addEventListener('abort', onAbort, { once: true })
      // the state may have changed between the read and the subscription
      void this.get(id).then(row => { if (row != null) onChange(row) })
    })
  }

  /**
   * The node whose run produced the job's result: for a cache hit, the node that ran the job it
   * came from (its `finished` event is signed by the submitter's node, which ran nothing), or
   * null when that job is not known here.
   */
  async executorOf (row: JobRow): Promise<string | null> {
    if (row.cacheHit !== true || row.cachedFrom == null) return row.executor ?? null
    return (await this.get(row.cachedFrom))?.executor ?? null
  }

  /**
   * The `show` document of a job as it is now (`row` names it; a copy read earlier is not
   * trusted). Its state and its events are read between two of the job's writes: the shared row
   * changes as soon as an event is on disk, so a view that read the events and then the row could
   * show a final state without the `finished` event that set it.
   */
  async view (row: JobRow): Promise<JobView> {
    return await this.serialised(row.id, async () => {
      const current = (await this.get(row.id)) ?? row
      // a copy: the fields below are read after an await, and the shared row keeps changing
      return await this.viewOf(structuredClone(current), await this.store.events(row.id))
    })
  }

  /** `executor`, when given, is the one `executorOf(row)` would read */
  private async viewOf (row: JobRow, events: EventView[], executor?: string | null): Promise<JobView> {
    return {
      id: row.id,
      name: row.name,
      state: row.state,
      priority: row.priority,
      submitter: row.submitter,
      executor: executor !== undefined ? executor : await this.executorOf(row),
      exitCode: row.exitCode ?? null,
      cacheHit: row.cacheHit ?? false,
      cachedFrom: row.cachedFrom ?? null,
      reason: row.reason ?? null,
      submittedAt: row.submittedAt,
      events,
      usage: row.usage ?? null,
      log: row.log ?? null,
      artefacts: row.artefacts ?? [],
      params: row.params,
      announced: row.announced,
      runOn: row.runOn ?? null,
      acceptors: row.acceptors ?? null,
      ...(row.spec.nix != null ? { nix: { drv: row.spec.nix.drv, outputs: row.nix?.outputs ?? [] } } : {}),
      ...(row.provenance != null ? { provenance: row.provenance } : {}),
      ...(row.rebuild != null ? { rebuild: row.rebuild } : {}),
      ...(row.build != null ? { build: row.build } : {}),
      ...(row.source != null ? { source: row.source } : {})
    }
  }

  /** the `jobs` row of a job (a cache hit's executor is the one of the run it came from) */
  async summary (row: JobRow): Promise<JobSummary> {
    return {
      id: row.id,
      name: row.name,
      state: row.state,
      priority: row.priority,
      submitter: row.submitter,
      executor: await this.executorOf(row),
      cacheHit: row.cacheHit === true,
      submittedAt: row.submittedAt,
      ...(row.build != null ? { build: row.build } : {})
    }
  }
}
