import './polyfill.js'
import { readdirSync } from 'node:fs'
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { FsBlobStore } from '../store/blobs/index.js'
import { MetaStore, RecordLog } from '../store/meta/index.js'
import { parseHash } from '../store/blobs/index.js'
import { validateJobSpec, resolveParams } from '../protocols/job/index.js'
import { loadConfig } from './config/config.js'
import { ControlServer } from './control/server.js'
import { InvalidInputError } from './errors.js'
import { shortPeer } from './short-id.js'
import { Executor, TEMP_DIR_NAME } from './executor/index.js'
import { Sandbox } from './executor/sandbox/index.js'
import { checkHome, checkSocket } from './permissions.js'
import { isolationRefusal } from './scheduler/isolation.js'
import { ensureHome, loadOrCreateIdentity } from './home.js'
import { JobService } from './jobs/job-service.js'
import { JobStore } from './jobs/job-store.js'
import { createLogger, fileSink } from './logger.js'
import { acquirePidfile } from './pidfile.js'
import { Runner } from './scheduler/runner.js'
import { Exchange } from './transfer/exchange.js'
import { Retention } from './retention.js'
import { Supersede } from './scheduler/supersede.js'
import { JobOutputs } from './jobs/outputs.js'
import { stateWords } from './jobs/state-words.js'
import { JobQueries } from './jobs/queries.js'
import { TokenStore } from './http/tokens.js'
import type { TokenView } from './http/tokens.js'
import type { HttpFace } from './http/face.js'
import type { GcReport } from './retention.js'
import type { AttachSession } from '../protocols/attach/index.js'
import { blobsOf } from '../protocols/job/records.js'
import type { JobEvent } from '../protocols/job/records.js'
import { LocalClaimer } from './scheduler/claimer.js'
import { MeshClaimer } from './scheduler/mesh-claimer.js'
import { explainWait, pinnedOffers } from './scheduler/why-waiting.js'
import type { Offer } from './scheduler/admission.js'
import { Ingest } from './mesh/ingest.js'
import { acceptorsFor } from './mesh/acceptor-set.js'
import { installCrashHandlers } from './lifecycle.js'
import { meshFence } from './jobs/fence.js'
import { MeshAdmin, NotInMeshError, ForbiddenError } from './mesh/mesh-admin.js'
import { MeshService } from './mesh/mesh-service.js'
import { readMembership, writeMembership } from './mesh/membership.js'
import { PeerTable } from './mesh/peer-table.js'
import { TrustService } from './mesh/trust-service.js'
import type { Membership } from './mesh/membership.js'
import type { PeerView } from './mesh/peer-table.js'
import type { NodeState, LoadReport } from '../protocols/load/index.js'
import type { NodeConfig } from './config/config.js'
import type { ControlHandlers, JobPage, JobQuery, JobWatcher, OutputStream, StatusView, SubmitBody, TrustView } from './control/types.js'
import type { HomePaths } from './home.js'
import type { JobRow, JobSummary, JobView } from './jobs/types.js'
import type { LogSink } from './logger.js'
import type { Identity } from '../protocols/codec/index.js'
import type { JobSpec } from '../protocols/job/types.js'
import type { Logger } from '../store/logger.js'
import { rebuildSpec } from './provenance/index.js'
import { buildPipeline } from './provenance/pipeline.js'
import type { NixCache, NixImportReport, NixService, NixSubmitBody } from './nix/index.js'
import type { ProvenanceLookup, ProvenanceReport } from './provenance/index.js'

/** where a mesh node listens when neither --listen nor config.json says: all interfaces, a fixed port */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/7420']

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
  private runner?: Runner
  private exchange?: Exchange
  private retention?: Retention
  private outputs?: JobOutputs
  private collecting?: Promise<GcReport>
  private claimer?: MeshClaimer
  private sandbox?: Sandbox
  private control?: ControlServer
  private queries?: JobQueries
  private tokens?: TokenStore
  private http?: HttpFace
  private releasePid?: () => Promise<void>
  private membership?: Membership
  private trust?: TrustService
  private peerTable?: PeerTable
  private mesh?: MeshService
  private ingest?: Ingest
  private admin?: MeshAdmin
  private nix?: NixService
  private nixCache?: NixCache
  private provenance?: ProvenanceLookup
  private state: NodeState = 'active'
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
      this.config = { ...fileConfig, ...this.init.config, limits: { ...fileConfig.limits, ...this.init.config?.limits }, http: { ...fileConfig.http, ...this.init.config?.http } }
      this.sink = fileSink(this.paths.log)
      const root = createLogger(this.sink, 'cit', this.config.logLevel)
      this.log = root.child('node')
      this.identity = await loadOrCreateIdentity(this.paths)
      await checkHome(this.paths)
      this.sandbox = new Sandbox({ logger: root.child('sandbox') }, { ...this.config.sandbox, home: this.paths.root, scratchDir: join(this.paths.workspaces, TEMP_DIR_NAME) })
      // its probe runs while the stores and the mesh start; jobs are taken only once it is done
      const sandboxReady = this.sandbox.start()
      sandboxReady.catch(() => {})
      this.meta = new MetaStore({ logger: root.child('meta') }, { path: this.paths.db })
      await this.meta.start()
      this.blobs = new FsBlobStore({ logger: root.child('blobs') }, { dir: this.paths.blobs })
      await this.blobs.start()
      this.recordLog = new RecordLog(this.meta)
      await this.recordLog.start()
      const membership = await readMembership(this.paths.root)
      this.membership = membership?.leftAt == null ? membership : undefined
      const store = new JobStore(this.meta, this.recordLog)
      // in a mesh, run events count only with the acceptors' signatures
      if (this.membership != null) store.certify = meshFence(this.membership.mesh.id)
      // and others' jobs are stopped or reprioritised only by an admin (checked with the trust of the moment)
      store.isAdmin = key => this.trust?.hasRole(key, 'admin') ?? false
      this.jobs = new JobService({ identity: this.identity, store, logger: root.child('jobs'), acceptorsFor: nonce => this.acceptorsFor(nonce), mesh: this.membership?.mesh.id })
      const executor = new Executor({ blobs: this.blobs, logger: root.child('exec'), sandbox: this.sandbox }, { workspacesDir: this.paths.workspaces, limits: this.config.limits })
      const pipeline = buildPipeline({
        executor,
        config: this.config,
        identity: this.identity,
        jobs: this.jobs,
        blobs: this.blobs,
        home: this.paths.root,
        ensureLocal: async (h, o) => await this.exchange?.ensureLocal(h, o),
        announce: h => { this.exchange?.announce(h) },
        submit: async b => await this.submit(b),
        // a node on its own trusts its own key only
        roleAt: (k, r, t) => this.trust?.roleAt(k, r, t) ?? (k === this.identity.id ? 'held' : 'not-held'),
        mesh: () => this.membership?.mesh.id ?? null,
        onLabels: () => { this.mesh?.reportNow().catch(err => { this.log.warn('load report failed', { err }) }) },
        logger: scope => root.child(scope)
      })
      this.nix = pipeline.nix
      this.nixCache = pipeline.cache
      this.provenance = pipeline.provenance
      this.jobs.on('event', ev => {
        if (ev.type === 'cancel-requested' || ev.type === 'superseded') this.runner?.cancel(ev.job, ev.reason ?? ev.type)
      })
      const supersede = new Supersede({ jobs: this.jobs, self: this.identity.id })
      this.jobs.on('change', row => { supersede.onChange(row).catch(err => { this.log.error('supersede failed', { job: row.id, err }) }) })
      if (this.membership != null) await this.startMesh(this.membership, root)
      this.exchange = new Exchange({
        self: this.identity.id,
        jobs: this.jobs,
        executor,
        blobs: this.blobs,
        logger: root.child('exchange'),
        hasRole: this.trust != null ? (k, r) => this.trust!.hasRole(k, r) : undefined,
        libp2p: this.mesh?.libp2p
      }, { dir: Exchange.dirIn(this.paths.root) })
      await this.exchange.start()
      this.jobs.on('signed', s => {
        const ev = s.payload as JobEvent
        // what this node stored, it offers to the mesh
        if (s.type === 'event' && ev.type === 'finished' && ev.result != null && ev.result.cacheHit !== true) {
          this.exchange?.announce(blobsOf(ev.result))
        }
      })
      // a revoked or expired read right ends the key's open attach sessions, counted as attach-not-allowed
      this.trust?.on('change', () => {
        void this.exchange?.attach.recheck().then(closed => { for (let i = 0; i < closed; i++) this.ingest?.drop('attach-not-allowed') })
      })
      this.outputs = new JobOutputs({ jobs: this.jobs, blobs: this.blobs, exchange: this.exchange, self: this.identity.id, logger: root.child('output') })
      this.retention = new Retention({
        blobs: this.blobs,
        jobs: this.jobs.store,
        logger: root.child('gc'),
        running: () => (this.runner?.runningIds ?? []).map(id => this.jobs.liveName(id)).filter((n): n is string => n != null),
        onRemoved: hash => { this.exchange?.withdraw(hash) }
      }, { ...this.config.retention, workspacesDir: this.paths.workspaces })
      // keep within the quotas after each job this node finishes
      this.jobs.on('signed', s => {
        if (s.type === 'event' && (s.payload as JobEvent).type === 'finished' && this.retention?.hasQuota() === true) {
          this.gc().catch(err => { this.log.warn('garbage collection failed', { err }) })
        }
      })
      await sandboxReady
      this.runner = new Runner({ jobs: this.jobs, executor: pipeline.executor, claimer: this.claimer ?? new LocalClaimer(), logger: root.child('runner') }, { slots: this.config.slots })
      await this.runner.start()
      this.queries = new JobQueries({ jobs: this.jobs })
      this.tokens = new TokenStore({ meta: this.meta!, self: this.identity.id })
      // before the control socket: a daemon that answers `status` serves its HTTP face too
      if (this.config.http.listen != null) {
        // loaded only when switched on: Fastify and its parts take a second to import
        const { HttpFace } = await import('./http/face.js')
        this.http = new HttpFace({ handlers: this, logger: root.child('http') }, this.config.http)
        await this.http.start()
      }
      if (this.init.control !== false) {
        this.control = new ControlServer({ handlers: this, logger: root.child('control') }, { socketPath: this.paths.socket })
        await this.control.start()
        await checkSocket(this.paths.socket)
      }
      this.startedAt = Date.now()
      this.log.info('daemon started', { peerId: this.identity.id, pid: process.pid })
    } catch (err) {
      this.log?.error('daemon could not start', { err })
      await this.teardown()
      throw err
    }
  }

  private async startMesh (membership: Membership, root: ReturnType<typeof createLogger>): Promise<void> {
    this.trust = new TrustService({ meta: this.meta!, log: this.recordLog!, logger: root.child('trust'), mesh: membership.mesh })
    await this.trust.start(membership.records)
    this.peerTable = new PeerTable(this.meta!)
    await this.peerTable.start()
    const ingest = new Ingest({ trust: this.trust, jobs: this.jobs, peers: this.peerTable, logger: root.child('ingest'), mesh: membership.mesh.id })
    this.ingest = ingest
    const listen = this.config.listen.length > 0 ? this.config.listen : DEFAULT_LISTEN
    this.mesh = new MeshService({
      identity: this.identity,
      meta: this.meta!,
      recordLog: this.recordLog!,
      trust: this.trust,
      jobs: this.jobs,
      peers: this.peerTable,
      ingest,
      logger: root.child('mesh'),
      localReport: () => this.localReport()
    }, { membership, listen })
    await this.mesh.start()
    const mesh = this.mesh
    const trust = this.trust
    this.claimer = new MeshClaimer({
      self: this.identity.id,
      lease: mesh.lease!.claimant,
      peers: this.peerTable,
      ownOffer: () => this.ownOffer(),
      canBuild: id => trust.hasRole(id, 'build'),
      refuse: row => isolationRefusal({ isolation: this.sandbox?.isolation ?? 'none', allowUnisolated: this.config.allowUnisolated, self: this.identity.id }, row),
      isMember: id => trust.isMember(id),
      announcement: async id => await this.jobs.store.announcement(id),
      // alone (no other member, or none connected), nothing can be missing
      caughtUp: () => mesh.caughtUp() || mesh.otherMembers() === 0,
      logger: root.child('claim')
    })
    this.admin = new MeshAdmin({ identity: this.identity, mesh: membership.mesh, trust: this.trust, service: this.mesh })
  }

  /** the acceptors a new job names (see `acceptorsFor`) */
  private acceptorsFor (nonce: string): { acceptors: string[], trust: string } | undefined {
    if (this.trust == null) return undefined
    return acceptorsFor(this.trust, this.identity.id, this.mesh?.connectedPeers().length ?? 0, nonce)
  }

  /** what this node offers right now, as its next load report would say */
  private ownOffer (): Offer {
    return {
      report: { ...this.localReport(), node: this.identity.id, at: Date.now(), seq: 0, addrs: [] },
      canBuild: this.trust?.hasRole(this.identity.id, 'build') ?? true
    }
  }

  private localReport (): Omit<LoadReport, 'node' | 'at' | 'seq' | 'addrs'> {
    return {
      workspaces: this.workspaceNames(),
      loadLimit: this.config.loadLimit,
      load1: Math.round(loadavg()[0] * 100) / 100,
      cores: availableParallelism(),
      memFreeBytes: freemem(),
      memTotalBytes: totalmem(),
      slots: this.runner?.slotCount ?? 0,
      slotsFree: this.runner?.freeSlots ?? 0,
      labels: this.config.labels,
      state: this.state,
      running: this.runner?.runningIds.slice(0, 1024) ?? []
    }
  }

  private workspaceCache = { at: 0, names: [] as string[] }

  /** names of the workspaces this node holds (read at most every few seconds) */
  private workspaceNames (): string[] {
    const now = Date.now()
    if (now - this.workspaceCache.at > 5000) {
      let names: string[] = []
      try {
        names = readdirSync(this.paths.workspaces).filter(n => !n.startsWith('.'))
      } catch {}
      this.workspaceCache = { at: now, names: names.slice(0, 256) }
    }
    return this.workspaceCache.names
  }


  /**
   * Stop the daemon, each part in the reverse order of its start. Running jobs are handed over
   * first (their leases released, `requeued` with the reason) while the mesh is still up to
   * carry that; with `wait` they are finished first instead, and nothing new is claimed.
   */
  async stop (options: { wait?: boolean } = {}): Promise<void> {
    if (options.wait === true && this.stopping == null) {
      this.log?.info('daemon stopping after its running jobs', { running: this.runner?.runningIds.length ?? 0 })
      this.state = 'draining'
      await this.mesh?.reportNow().catch(() => {})
      await this.runner?.drain()
    }
    this.stopping ??= this.teardown()
    await this.stopping
  }

  private async teardown (): Promise<void> {
    this.log?.info('daemon stopping')
    const steps: Array<[string, (() => Promise<void>) | undefined]> = [
      ['http', this.http != null ? async () => await this.http!.stop() : undefined],
      ['control', this.control != null ? async () => await this.control!.stop() : undefined],
      ['nix cache', this.nixCache != null ? async () => { this.nixCache!.stop() } : undefined],
      // the runner first: it hands its jobs over through the mesh, which must still be up
      ['runner', this.runner != null ? async () => await this.runner!.stop() : undefined],
      ['exchange', this.exchange != null ? async () => await this.exchange!.stop() : undefined],
      ['mesh', this.mesh != null ? async () => await this.mesh!.stop() : undefined],
      ['peers', this.peerTable != null ? async () => await this.peerTable!.stop() : undefined],
      ['trust', this.trust != null ? async () => { this.trust!.stop() } : undefined],
      ['records', this.recordLog != null ? async () => await this.recordLog!.stop() : undefined],
      ['blobs', this.blobs != null ? async () => await this.blobs!.stop() : undefined],
      ['meta', this.meta != null ? async () => await this.meta!.stop() : undefined]
    ]
    for (const [part, stop] of steps) {
      // one part failing to stop must not leave the others running
      await stop?.().catch(err => { this.log?.error('a part failed to stop', { part, err }) })
    }
    this.log?.info('daemon stopped')
    await this.sink?.close()
    await this.releasePid?.()
    this.startedAt = 0
    this.stopped.resolve()
  }

  /** see `installCrashHandlers`: installed once per process by the daemon's entry */
  installCrashHandlers (exit?: (code: number) => void): () => void {
    return installCrashHandlers(() => this.log, async () => await this.stop(), exit)
  }

  async status (): Promise<StatusView> {
    return {
      peerId: this.identity.id,
      pid: process.pid,
      addrs: this.mesh?.addrs() ?? [],
      mesh: this.membership?.mesh.id ?? null,
      state: this.trust?.isRevoked(this.identity.id) === true ? 'revoked' : this.state === 'gone' ? 'paused' : this.state,
      roles: this.trust?.rolesOf(this.identity.id) ?? [],
      connected: this.mesh?.connectedPeers().length ?? 0,
      nixCacheKey: this.nixCache?.publicKey ?? null,
      dropped: this.mesh != null ? (this.mesh.stats().ingest as { dropped: Record<string, number> }).dropped : {},
      messages: this.mesh != null ? { ...this.mesh.stats(), ...this.exchange?.stats() } : null,
      labels: this.config.labels,
      load: { load1: loadavg()[0], cores: availableParallelism(), memFreeBytes: freemem(), slotsFree: this.runner?.freeSlots ?? 0 },
      running: this.runner?.runningIds ?? [],
      isolation: this.sandbox?.isolation ?? 'none',
      isolationDetail: this.sandbox?.detail ?? 'not started',
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
    if (this.trust != null && !this.trust.hasRole(this.identity.id, 'submit')) {
      throw new ForbiddenError(`this node's key ${this.identity.id} does not hold the submit role in this mesh`)
    }
    const cached = spec.cache ? await this.jobs.cachedResult(spec, resolved.values) : undefined
    const row = await this.jobs.submit({ spec, params: resolved.values, priority: body.priority, cached, runOn: body.here === true ? this.identity.id : undefined })
    return await this.jobs.view(row)
  }

  /** a derivation the CLI evaluated: its closure into the content store, then a job that realises it */
  async submitNix (body: NixSubmitBody): Promise<JobView> {
    return await this.nix!.submit(body)
  }

  /** a Nix job's output closures (or one by hash) into this machine's Nix store */
  async nixImport (ref: string, signal?: AbortSignal): Promise<NixImportReport> {
    return await this.nix!.import(ref, { signal })
  }

  // the read-only Nix binary cache of the HTTP face (node/nix/cache.ts)
  nixCacheInfo (): string { return this.nixCache!.cacheInfo() }
  async nixNarinfo (hashPart: string, signal?: AbortSignal): Promise<string> { return await this.nixCache!.narinfo(hashPart, { signal }) }
  async nixNar (file: string, signal?: AbortSignal): Promise<{ size: number, stream: AsyncIterable<Uint8Array> }> { return await this.nixCache!.nar(file, { signal }) }

  /** the provenance of a hash, every signature checked; `envelope` (base64): check that statement instead */
  async verify (body: { hash: string, envelope?: string }, signal?: AbortSignal): Promise<ProvenanceReport> {
    const envelope = typeof body?.envelope === 'string' ? Buffer.from(body.envelope, 'base64') : undefined
    return await this.provenance!.verify(parseHash(String(body?.hash ?? '')), { envelope, signal })
  }

  /** re-run the job that built what `ref` names on another member (`verify --rebuild`) */
  async rebuild (ref: string): Promise<JobView> {
    if (this.trust == null) throw new NotInMeshError()
    const row = await this.provenance!.built(ref)
    return await this.submit({ spec: rebuildSpec(row), params: row.params, priority: row.priority })
  }

  async list (options: { limit?: number } = {}): Promise<JobSummary[]> {
    const out: JobSummary[] = []
    for await (const row of this.jobs.store.list({ newestFirst: true, limit: options.limit })) {
      out.push(await this.jobs.summary((await this.jobs.get(row.id)) ?? row))
    }
    return out
  }

  async show (ref: string): Promise<JobView> {
    const row = await this.jobs.resolve(ref)
    const view = await this.jobs.view(row)
    if (row.state === 'queued' && view.reason == null) view.reason = this.whyWaiting(row)
    return view
  }

  /** for a queued job: why no node has taken it yet */
  private whyWaiting (row: JobRow): string {
    if (this.claimer != null) return explainWait(row.spec, pinnedOffers(row, this.claimer.offers()), this.identity.id)
    if (this.state === 'draining') return 'this node is draining: it finishes what runs and takes nothing new (`cit-node resume` claims again)'
    if (this.runner?.isPaused === true) return 'this node is paused (`cit-node resume` claims again)'
    if (this.runner?.freeSlots === 0) return `this node is busy, each of its ${this.runner.slotCount} slots running a job ("slots" in config.json sets how many run at once)`
    return 'waiting to be run'
  }

  /** change a queued job's priority (its submitter or an admin), as a signed event */
  async reprioritize (ref: string, priority: number): Promise<JobView> {
    if (!Number.isSafeInteger(priority)) throw new InvalidInputError('priority: must be a whole number')
    const row = await this.jobs.resolve(ref)
    if (row.submitter !== this.identity.id && this.trust != null && !this.trust.hasRole(this.identity.id, 'admin')) {
      throw new ForbiddenError('only the job\'s submitter or an admin may change its priority')
    }
    if (row.state !== 'queued') throw new InvalidInputError(`job ${row.id} ${stateWords(row.state)}: only a queued job's priority can change`)
    await this.jobs.transition(row.id, 'reprioritized', { priority })
    return await this.show(row.id)
  }

  async cancel (ref: string): Promise<JobView> {
    const row = await this.jobs.resolve(ref)
    // the mesh refuses a cancel from anyone else (authority.ts): never record one here either
    if (row.submitter !== this.identity.id && !(this.trust?.hasRole(this.identity.id, 'admin') ?? false)) {
      throw new ForbiddenError(`only the job's submitter (${shortPeer(row.submitter)}) or an admin may cancel it`)
    }
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
    return await this.outputs!.output(ref, follow)
  }

  async peers (): Promise<PeerView[]> {
    if (this.peerTable == null) throw new NotInMeshError()
    return this.peerTable.view(this.identity.id, id => this.trust?.isRevoked(id) === true)
  }

  /** pause (claim nothing), resume, or drain (finish what runs, then claim nothing) */
  async setState (state: 'active' | 'paused' | 'draining'): Promise<StatusView> {
    if (!['active', 'paused', 'draining'].includes(state)) throw new InvalidInputError('state: must be active, paused or draining')
    this.runner!.setPaused(state !== 'active')
    // a drained node stays `draining` (not `paused`): people asked for one and not the other
    this.state = state
    this.log.info('node state changed', { state: this.state })
    // the mesh hears of it now, not at the next report
    await this.mesh?.reportNow()
    return await this.status()
  }

  async invite (body: { roles?: unknown, ttlMs?: number }): Promise<{ token: string, roles: string[], expiresAt: number }> {
    if (this.admin == null) throw new NotInMeshError()
    return await this.admin.invite(body)
  }

  async trustList (): Promise<TrustView> {
    if (this.trust == null) throw new NotInMeshError()
    return { mesh: this.membership!.mesh.id, members: this.trust.state.members(), revocations: this.trust.state.revocations() }
  }

  async trustGrant (body: { key: string, roles: unknown, ttlMs?: number }): Promise<{ hash: string }> {
    if (this.admin == null) throw new NotInMeshError()
    return await this.admin.grant(String(body.key ?? ''), body.roles, { ttlMs: body.ttlMs })
  }

  async trustRevoke (body: { key: string }): Promise<{ hash: string }> {
    if (this.admin == null) throw new NotInMeshError()
    return await this.admin.revoke(String(body.key ?? ''))
  }

  /** Tell the mesh this node is gone, stop claiming, and leave: the home keeps its history. */
  async leave (): Promise<{ left: boolean }> {
    if (this.membership == null || this.mesh == null) throw new NotInMeshError()
    this.runner!.setPaused(true)
    this.state = 'gone'
    await this.mesh.reportNow()
    await writeMembership(this.paths.root, { ...this.membership, leftAt: Date.now() })
    setImmediate(() => { void this.stop() })
    return { left: true }
  }

  /**
   * Make a blob local, fetching it from the members that hold it; reports progress. Returns
   * where the bytes came from.
   */
  async fetchBlob (hash: string, onProgress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<{ sha256: string, size: number, local: boolean, bytesFetched: number, holders: Record<string, number> }> {
    const h = parseHash(hash)
    const r = await this.exchange?.ensureLocal(h, { onProgress, signal })
    const info = await this.blobs!.stat(h)
    return { sha256: h, size: info.size, local: r == null || r.local, bytesFetched: r?.bytesFetched ?? 0, holders: r?.byHolder ?? {} }
  }

  /** evict least recently used blobs and workspaces beyond the quotas (one collection at a time) */
  async gc (): Promise<GcReport> {
    this.collecting ??= this.retention!.collect().finally(() => { this.collecting = undefined })
    return await this.collecting
  }

  /** a terminal session on a running job, wherever it runs (attach) */
  async openAttach (ref: string, mode: 'ro' | 'rw', size: { cols?: number, rows?: number }, signal?: AbortSignal): Promise<AttachSession> {
    const row = await this.jobs.resolve(ref)
    if (row.state !== 'running' && row.state !== 'claimed') throw new InvalidInputError(`job ${row.id} ${stateWords(row.state)}: only a running job has a terminal (see \`cit-node logs\`)`)
    return await this.exchange!.open(row.id, row.executor, mode, size, signal)
  }

  async blob (hash: string, options: { start?: number, end?: number, signal?: AbortSignal } = {}): Promise<{ size: number, stream: AsyncIterable<Uint8Array> }> {
    const h = parseHash(hash)
    await this.exchange?.ensureLocal(h, { signal: options.signal })
    // check the whole blob before the first byte goes out: a corrupt one is refused with its hash
    // named (and quarantined) instead of a transfer cut off half-way
    await this.blobs!.verify(h, { signal: options.signal })
    const info = await this.blobs!.stat(h)
    return { size: info.size, stream: this.blobs!.get(h, options) }
  }

  // the HTTP face's queries, re-run and bearer tokens (node/http)
  async findJobs (query: JobQuery): Promise<JobPage> { return await this.queries!.find(query) }
  async jobSpec (ref: string): Promise<{ id: string, spec: JobSpec }> { const row = await this.jobs.resolve(ref); return { id: row.id, spec: row.spec } }
  watchJobs (watcher: JobWatcher): () => void { return this.queries!.watch(watcher) }
  async tokenCreate (body: { role?: unknown, ttlMs?: unknown, label?: unknown }): Promise<TokenView & { token: string }> { return await this.tokens!.create(body) }
  async tokenList (): Promise<TokenView[]> { return await this.tokens!.list() }
  async tokenRevoke (id: string, options?: { purge?: boolean }): Promise<TokenView> { return await this.tokens!.revoke(id, options) }
  async tokenCheck (text: string): Promise<TokenView | undefined> { return await this.tokens!.check(text) }

  /** the same spec, parameters and priority as a new job (never served from the result cache) */
  async rerun (ref: string): Promise<JobView> {
    const row = await this.jobs.resolve(ref)
    if (this.trust != null && !this.trust.hasRole(this.identity.id, 'submit')) {
      throw new ForbiddenError(`this node's key ${this.identity.id} does not hold the submit role in this mesh`)
    }
    return await this.jobs.view(await this.jobs.submit({ spec: row.spec, params: row.params, priority: row.priority }))
  }
}
