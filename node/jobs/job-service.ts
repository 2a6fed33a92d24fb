import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { seal } from '../../protocols/codec/index.js'
import { isFinal } from '../../protocols/job/records.js'
import { JobNotFoundError } from '../errors.js'
import { JobStore, rowFromAnnouncement } from './job-store.js'
import { LiveOutput } from './live-output.js'
import type { Identity, Signed } from '../../protocols/codec/index.js'
import type { EventType, JobAnnouncement, JobEvent, JobResult, JobState } from '../../protocols/job/records.js'
import type { JobSpec } from '../../protocols/job/types.js'
import type { Logger } from '../../store/logger.js'
import type { EventView, JobRow, JobSummary, JobView } from './types.js'

export interface JobServiceComponents {
  identity: Identity
  store: JobStore
  logger: Logger
  now?: () => number
}

export interface SubmitRequest {
  spec: JobSpec
  params: Record<string, string>
  priority?: number
}

export interface JobServiceEvents {
  /** a job was created or changed state */
  change: [JobRow]
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
  }

  get nodeId (): string { return this.identity.id }

  /** Sign and persist a new job; it is on disk (synced) when this returns. */
  async submit (req: SubmitRequest): Promise<JobRow> {
    const announcement: JobAnnouncement = {
      spec: req.spec,
      params: req.params,
      priority: req.priority ?? req.spec.priority,
      submittedAt: this.now(),
      node: this.identity.id,
      nonce: randomBytes(8).toString('hex')
    }
    const signed = seal(this.identity, 'job', announcement)
    const row = rowFromAnnouncement(signed, true)
    const first = this.sealEvent(row.id, 'submitted', { state: 'queued' })
    await this.store.create(row, signed.bytes, first)
    this.active.set(row.id, row)
    this.log.info('job submitted', { job: row.id, name: row.name, priority: row.priority })
    this.emit('change', row)
    return row
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
  async transition (id: string, type: EventType, extra: { state?: JobState, reason?: string, result?: JobResult } = {}): Promise<JobRow> {
    const prev = this.chains.get(id) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(async () => await this.transitionNow(id, type, extra))
    this.chains.set(id, next)
    try {
      return await next
    } finally {
      if (this.chains.get(id) === next) this.chains.delete(id)
    }
  }

  private async transitionNow (id: string, type: EventType, extra: { state?: JobState, reason?: string, result?: JobResult }): Promise<JobRow> {
    const row = await this.get(id)
    if (row == null) throw new JobNotFoundError(id)
    // a finished job is finished: late events from this node are not recorded at all
    if (isFinal(row.state)) return row
    const ev = this.sealEvent(id, type, extra)
    // the final result is synced: a crash right after must not lose an accepted outcome
    const changed = await this.store.record(row, ev, { sync: extra.result != null })
    if (isFinal(row.state)) this.active.delete(id)
    this.log.debug('job event', { job: id, type, state: row.state })
    if (changed) this.emit('change', row)
    return row
  }

  private sealEvent (job: string, type: EventType, extra: { state?: JobState, reason?: string, result?: JobResult }): Signed<JobEvent> {
    const ev: JobEvent = { job, type, node: this.identity.id, at: this.now(), ...extra }
    return seal(this.identity, 'event', ev)
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

  async view (row: JobRow): Promise<JobView> {
    const events: EventView[] = await this.store.events(row.id)
    return {
      id: row.id,
      name: row.name,
      state: row.state,
      priority: row.priority,
      submitter: row.submitter,
      executor: row.executor ?? null,
      exitCode: row.exitCode ?? null,
      cacheHit: row.cacheHit ?? false,
      reason: row.reason ?? null,
      submittedAt: row.submittedAt,
      events,
      usage: row.usage ?? null,
      log: row.log ?? null,
      artefacts: row.artefacts ?? [],
      params: row.params,
      announced: row.announced
    }
  }

  static summary (row: JobRow): JobSummary {
    return {
      id: row.id,
      name: row.name,
      state: row.state,
      priority: row.priority,
      submitter: row.submitter,
      executor: row.executor ?? null,
      submittedAt: row.submittedAt
    }
  }
}
