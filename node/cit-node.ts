import './polyfill.js'
import { availableParallelism, freemem, loadavg } from 'node:os'
import { FsBlobStore } from '../store/blobs/index.js'
import { MetaStore, RecordLog } from '../store/meta/index.js'
import { parseHash } from '../store/blobs/index.js'
import { validateJobSpec, resolveParams } from '../protocols/job/index.js'
import { loadConfig } from './config/config.js'
import { ControlServer } from './control/server.js'
import { InvalidInputError } from './errors.js'
import { Executor } from './executor/index.js'
import { ensureHome, loadOrCreateIdentity } from './home.js'
import { JobService } from './jobs/job-service.js'
import { JobStore } from './jobs/job-store.js'
import { castOutput } from './jobs/recording.js'
import { createLogger, fileSink } from './logger.js'
import { acquirePidfile } from './pidfile.js'
import { LocalRunner } from './scheduler/local-runner.js'
import type { NodeConfig } from './config/config.js'
import type { ControlHandlers, OutputStream, StatusView, SubmitBody } from './control/types.js'
import type { HomePaths } from './home.js'
import type { JobSummary, JobView } from './jobs/types.js'
import type { LogSink } from './logger.js'
import type { Identity } from '../protocols/codec/index.js'
import type { Logger } from '../store/logger.js'

export interface CitNodeInit {
  /** the home directory (already resolved) */
  home: string
  /** settings that override config.json (from command-line flags) */
  config?: Partial<NodeConfig>
  /** serve the control socket (default true) */
  control?: boolean
}

/**
 * One cit-node daemon: wires the store, the job service, the executor, the runner and the
 * control API, and starts and stops them in order. A start that fails part-way stops what started.
 */
export class CitNode implements ControlHandlers {
  paths!: HomePaths
  identity!: Identity
  config!: NodeConfig
  jobs!: JobService
  private log!: Logger
  private sink?: LogSink
  private meta?: MetaStore
  private recordLog?: RecordLog
  private blobs?: FsBlobStore
  private runner?: LocalRunner
  private control?: ControlServer
  private releasePid?: () => Promise<void>
  private stopping?: Promise<void>
  private startedAt = 0
  private readonly stopped = Promise.withResolvers<void>()

  constructor (private readonly init: CitNodeInit) {}

  /** resolves once the node has stopped (by `stop()` or a `stop` request) */
  get whenStopped (): Promise<void> { return this.stopped.promise }

  async start (): Promise<void> {
    if (this.startedAt !== 0) return
    this.paths = await ensureHome(this.init.home)
    this.releasePid = await acquirePidfile(this.paths.pidfile)
    try {
      const fileConfig = await loadConfig(this.paths.config)
      this.config = { ...fileConfig, ...this.init.config, limits: { ...fileConfig.limits, ...this.init.config?.limits } }
      this.sink = fileSink(this.paths.log)
      const root = createLogger(this.sink, 'cit', this.config.logLevel)
      this.log = root.child('node')
      this.identity = await loadOrCreateIdentity(this.paths)
      this.meta = new MetaStore({ logger: root.child('meta') }, { path: this.paths.db })
      await this.meta.start()
      this.blobs = new FsBlobStore({ logger: root.child('blobs') }, { dir: this.paths.blobs })
      await this.blobs.start()
      this.recordLog = new RecordLog(this.meta)
      await this.recordLog.start()
      this.jobs = new JobService({ identity: this.identity, store: new JobStore(this.meta, this.recordLog), logger: root.child('jobs') })
      const executor = new Executor({ blobs: this.blobs, logger: root.child('exec') }, { workspacesDir: this.paths.workspaces, limits: this.config.limits })
      this.runner = new LocalRunner({ jobs: this.jobs, executor, logger: root.child('runner') }, { slots: this.config.slots })
      await this.runner.start()
      if (this.init.control !== false) {
        this.control = new ControlServer({ handlers: this, logger: root.child('control') }, { socketPath: this.paths.socket })
        await this.control.start()
      }
      this.startedAt = Date.now()
      this.log.info('daemon started', { peerId: this.identity.id, pid: process.pid })
    } catch (err) {
      await this.teardown()
      throw err
    }
  }

  async stop (): Promise<void> {
    this.stopping ??= this.teardown()
    await this.stopping
  }

  private async teardown (): Promise<void> {
    this.log?.info('daemon stopping')
    await this.control?.stop()
    await this.runner?.stop()
    await this.blobs?.stop()
    await this.meta?.stop()
    await this.sink?.close()
    await this.releasePid?.()
    this.startedAt = 0
    this.stopped.resolve()
  }

  async status (): Promise<StatusView> {
    return {
      peerId: this.identity.id,
      pid: process.pid,
      addrs: [],
      mesh: null,
      state: 'active',
      labels: this.config.labels,
      load: { load1: loadavg()[0], cores: availableParallelism(), memFreeBytes: freemem(), slotsFree: this.runner?.freeSlots ?? 0 },
      running: this.runner?.runningIds ?? [],
      home: this.paths.root,
      startedAt: this.startedAt
    }
  }

  async submit (body: SubmitBody): Promise<JobView> {
    const { spec, problems } = validateJobSpec(body.spec)
    if (spec == null || problems.length > 0) throw new InvalidInputError(`invalid job: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`, problems)
    const resolved = resolveParams(spec, body.params ?? {})
    if (resolved.problems.length > 0) throw new InvalidInputError(`invalid params: ${resolved.problems.map(p => `${p.path}: ${p.message}`).join('; ')}`, resolved.problems)
    if (body.priority != null && !Number.isSafeInteger(body.priority)) throw new InvalidInputError('priority: must be a whole number')
    const row = await this.jobs.submit({ spec, params: resolved.values, priority: body.priority })
    return await this.jobs.view(row)
  }

  async list (options: { limit?: number } = {}): Promise<JobSummary[]> {
    const out: JobSummary[] = []
    for await (const row of this.jobs.store.list({ newestFirst: true, limit: options.limit })) {
      out.push(JobService.summary((await this.jobs.get(row.id)) ?? row))
    }
    return out
  }

  async show (ref: string): Promise<JobView> {
    return await this.jobs.view(await this.jobs.resolve(ref))
  }

  async cancel (ref: string): Promise<JobView> {
    const row = await this.jobs.resolve(ref)
    await this.jobs.transition(row.id, 'cancel-requested', { reason: 'cancelled by the user' })
    if (!this.runner!.cancel(row.id, 'cancelled by the user') && (row.state === 'queued' || row.state === 'claimed')) {
      await this.jobs.transition(row.id, 'cancelled', { state: 'cancelled', reason: 'cancelled by the user' })
    }
    return await this.show(row.id)
  }

  async wait (ref: string, signal: AbortSignal): Promise<JobView> {
    const row = await this.jobs.resolve(ref)
    return await this.jobs.view(await this.jobs.waitFinal(row.id, { signal }))
  }

  async output (ref: string, follow: boolean): Promise<OutputStream> {
    let row = await this.jobs.resolve(ref)
    const live = this.jobs.liveOutput(row.id)
    if (live != null) {
      if (follow) return { replay: [], follow: (onData, onEnd) => live.subscribe({ data: onData, end: onEnd }) }
      const chunks: Uint8Array[] = []
      live.subscribe({ data: c => { chunks.push(c) }, end: () => {} })()
      return { replay: chunks }
    }
    if (follow && (row.state === 'queued' || row.state === 'claimed')) {
      // wait for it to start (or finish without running), then stream from the start
      row = await this.waitStartOrEnd(row.id)
      return await this.output(row.id, follow)
    }
    if (row.log == null) return { replay: [] }
    return { replay: castOutput(this.blobs!.get(row.log)) }
  }

  private async waitStartOrEnd (id: string): Promise<NonNullable<Awaited<ReturnType<JobService['get']>>>> {
    return await new Promise(resolve => {
      const check = (row: Awaited<ReturnType<JobService['get']>>): void => {
        if (row != null && row.id === id && row.state !== 'queued' && row.state !== 'claimed') {
          this.jobs.off('change', check)
          resolve(row)
        }
      }
      this.jobs.on('change', check)
      void this.jobs.get(id).then(check)
    })
  }

  async blob (hash: string): Promise<{ size: number, stream: AsyncIterable<Uint8Array> }> {
    const h = parseHash(hash)
    const info = await this.blobs!.stat(h)
    return { size: info.size, stream: this.blobs!.get(h) }
  }
}
