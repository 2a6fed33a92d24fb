import './polyfill.js'
import { join } from 'node:path'
import { FsBlobStore } from '../store/blobs/index.js'
import { MetaStore, RecordLog } from '../store/meta/index.js'
import { silentLogger } from '../store/logger.js'
import { blobsOf } from '../protocols/job/records.js'
import { loadConfig } from './config/config.js'
import { NodeHandlers } from './control/handlers.js'
import { ControlServer } from './control/server.js'
import { NotStartedError } from './errors.js'
import { Executor, TEMP_DIR_NAME } from './executor/index.js'
import { Sandbox } from './executor/sandbox/index.js'
import { ensureHome, loadOrCreateIdentity } from './home.js'
import { TokenStore } from './http/tokens.js'
import { JobService } from './jobs/job-service.js'
import { JobStore } from './jobs/job-store.js'
import { meshFence } from './jobs/fence.js'
import { JobOutputs } from './jobs/outputs.js'
import { JobQueries } from './jobs/queries.js'
import { installCrashHandlers } from './lifecycle.js'
import { LoadSampler } from './load/sampler.js'
import { createLogger, fileSink } from './logger.js'
import { acceptorsFor } from './mesh/acceptor-set.js'
import { Ingest } from './mesh/ingest.js'
import { MeshAdmin } from './mesh/mesh-admin.js'
import { MeshService } from './mesh/mesh-service.js'
import { readMembership } from './mesh/membership.js'
import { PeerTable } from './mesh/peer-table.js'
import { TrustService } from './mesh/trust-service.js'
import { checkHome, checkSocket } from './permissions.js'
import { acquirePidfile } from './pidfile.js'
import { buildPipeline } from './provenance/pipeline.js'
import { Retention } from './retention.js'
import { LocalClaimer } from './scheduler/claimer.js'
import { isolationRefusal } from './scheduler/isolation.js'
import { MeshClaimer } from './scheduler/mesh-claimer.js'
import { Runner } from './scheduler/runner.js'
import { Supersede } from './scheduler/supersede.js'
import { Exchange } from './transfer/exchange.js'
import { Triggers } from './triggers/index.js'
import type { Identity, Signed } from '../protocols/codec/index.js'
import type { JobEvent } from '../protocols/job/records.js'
import type { NodeState } from '../protocols/load/index.js'
import type { Logger } from '../store/logger.js'
import type { NodeConfig } from './config/config.js'
import type { NodeParts } from './control/handlers.js'
import type { HomePaths } from './home.js'
import type { HttpFace } from './http/face.js'
import type { LocalLoad } from './load/sampler.js'
import type { LogSink } from './logger.js'
import type { Membership } from './mesh/membership.js'
import type { NixCache, NixService } from './nix/index.js'
import type { ProvenanceLookup } from './provenance/index.js'
import type { Offer } from './scheduler/admission.js'

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
 * One cit-node daemon: wires the stores, the job service, the executor, the mesh, the runner and
 * the faces (control socket, HTTP), and starts and stops them in order. A start that fails
 * part-way stops what started. Requests are answered by `handlers` (node/control/handlers.ts).
 */
export class CitNode implements NodeParts {
  paths!: HomePaths
  identity!: Identity
  config!: NodeConfig
  jobs!: JobService
  log: Logger = silentLogger
  blobs?: FsBlobStore
  runner?: Runner
  exchange?: Exchange
  retention?: Retention
  outputs?: JobOutputs
  claimer?: MeshClaimer
  sandbox?: Sandbox
  queries?: JobQueries
  tokens?: TokenStore
  membership?: Membership
  trust?: TrustService
  peerTable?: PeerTable
  mesh?: MeshService
  /** the door for peers' messages (in a mesh), whose drop counters `status` shows */
  ingest?: Ingest
  admin?: MeshAdmin
  nix?: NixService
  nixCache?: NixCache
  provenance?: ProvenanceLookup
  triggers?: Triggers
  state: NodeState = 'active'
  startedAt = 0
  /** what the control socket and the HTTP face call */
  readonly handlers: NodeHandlers = new NodeHandlers(this)
  private root: Logger & { child: (scope: string) => Logger } = { ...silentLogger, child: () => silentLogger }
  private sink?: LogSink
  private meta?: MetaStore
  private recordLog?: RecordLog
  private load?: LoadSampler
  private control?: ControlServer
  private http?: HttpFace
  private releasePid?: () => Promise<void>
  private stopping?: Promise<void>
  private readonly stopped = Promise.withResolvers<void>()

  constructor (private readonly init: CitNodeInit) {}

  /** resolves once the node has stopped (by `stop()` or a `stop` request) */
  get whenStopped (): Promise<void> { return this.stopped.promise }

  async start (): Promise<void> {
    if (this.startedAt !== 0) return
    this.paths = await ensureHome(this.init.home)
    this.releasePid = await acquirePidfile(this.paths.pidfile)
    try {
      await this.loadSettings()
      this.sandbox = new Sandbox({ logger: this.root.child('sandbox') }, { ...this.config.sandbox, home: this.paths.root, scratchDir: join(this.paths.workspaces, TEMP_DIR_NAME) })
      // its probe runs while the stores and the mesh start; jobs are taken only once it is done
      const sandboxReady = this.sandbox.start()
      sandboxReady.catch(() => {})
      const { meta, blobs, recordLog } = await this.startStores()
      const executor = await this.startJobs(meta, blobs, recordLog)
      if (this.membership != null) await this.startMesh(this.membership, meta, recordLog)
      await this.startTransfers(executor.plain, blobs)
      // every libp2p protocol is registered now: an invite key may open join only
      this.mesh?.guardInviteKeys()
      await sandboxReady
      this.runner = new Runner({ jobs: this.jobs, executor: executor.pipeline, claimer: this.claimer ?? new LocalClaimer(), logger: this.root.child('runner') }, { slots: this.config.slots })
      await this.runner.start()
      await this.startFaces(meta)
      this.startedAt = Date.now()
      this.triggers?.sendQueued().catch(err => { this.log.warn('queued triggers not sent', { err }) })
      this.log.info('daemon started', { peerId: this.identity.id, pid: process.pid })
    } catch (err) {
      this.log.error('daemon could not start', { err })
      await this.teardown()
      throw err
    }
  }

  /** config.json with the command line's overrides, the daemon log, the node's key and the home's permissions */
  private async loadSettings (): Promise<void> {
    const fileConfig = await loadConfig(this.paths.config)
    this.config = { ...fileConfig, ...this.init.config, limits: { ...fileConfig.limits, ...this.init.config?.limits }, http: { ...fileConfig.http, ...this.init.config?.http } }
    this.sink = fileSink(this.paths.log)
    this.root = createLogger(this.sink, 'cit', this.config.logLevel)
    this.log = this.root.child('node')
    this.identity = await loadOrCreateIdentity(this.paths)
    await checkHome(this.paths)
  }

  private async startStores (): Promise<{ meta: MetaStore, blobs: FsBlobStore, recordLog: RecordLog }> {
    const meta = this.meta = new MetaStore({ logger: this.root.child('meta') }, { path: this.paths.db })
    await meta.start()
    const blobs = this.blobs = new FsBlobStore({ logger: this.root.child('blobs') }, { dir: this.paths.blobs })
    await blobs.start()
    const recordLog = this.recordLog = new RecordLog(meta)
    await recordLog.start()
    const membership = await readMembership(this.paths.root)
    this.membership = membership?.leftAt == null ? membership : undefined
    return { meta, blobs, recordLog }
  }

  /** the job service, the executor and what wraps it (Nix, provenance), supersede and cancel */
  private async startJobs (meta: MetaStore, blobs: FsBlobStore, recordLog: RecordLog): Promise<{ plain: Executor, pipeline: ReturnType<typeof buildPipeline>['executor'] }> {
    const store = new JobStore(meta, recordLog)
    // in a mesh, run events count only with the acceptors' signatures
    if (this.membership != null) store.certify = meshFence(this.membership.mesh.id)
    // and others' jobs are stopped or reprioritised only by an admin (checked with the trust of the moment)
    store.isAdmin = (key, at) => (this.trust?.roleAt(key, 'admin', at) ?? 'not-held') !== 'not-held'
    this.jobs = new JobService({ identity: this.identity, store, logger: this.root.child('jobs'), acceptorsFor: nonce => this.acceptorsFor(nonce), mesh: this.membership?.mesh.id })
    const executor = new Executor({ blobs, logger: this.root.child('exec'), sandbox: this.sandbox }, { workspacesDir: this.paths.workspaces, limits: this.config.limits })
    const pipeline = buildPipeline({
      executor,
      config: this.config,
      identity: this.identity,
      jobs: this.jobs,
      blobs,
      home: this.paths.root,
      ensureLocal: async (h, o) => await this.exchange?.ensureLocal(h, o),
      announce: h => { this.exchange?.announce(h) },
      submit: async b => await this.handlers.submit(b),
      // a node on its own trusts its own key only
      roleAt: (k, r, t) => this.trust?.roleAt(k, r, t) ?? (k === this.identity.id ? 'held' : 'not-held'),
      mesh: () => this.membership?.mesh.id ?? null,
      onLabels: () => { this.mesh?.reportNow().catch(err => { this.log.warn('load report failed', { err }) }) },
      logger: scope => this.root.child(scope)
    })
    this.nix = pipeline.nix
    this.nixCache = pipeline.cache
    this.provenance = pipeline.provenance
    this.load = new LoadSampler({
      slots: () => ({ slots: this.runner?.slotCount ?? 0, free: this.runner?.freeSlots ?? 0, running: this.runner?.runningIds ?? [] }),
      state: () => this.state,
      labels: () => this.config.labels,
      loadLimit: this.config.loadLimit
    }, { workspacesDir: this.paths.workspaces })
    this.jobs.on('event', this.stopCancelled)
    await this.startTriggers(meta, recordLog)
    const supersede = new Supersede({ jobs: this.jobs, self: this.identity.id })
    this.jobs.on('change', row => { supersede.onChange(row).catch(err => { this.log.error('supersede failed', { job: row.id, err }) }) })
    return { plain: executor, pipeline: pipeline.executor }
  }

  /** repositories, hooks and webhooks (node/triggers): they submit through the handlers, as a person would */
  private async startTriggers (meta: MetaStore, recordLog: RecordLog): Promise<void> {
    this.triggers = new Triggers({
      identity: this.identity, meta, recordLog, jobs: this.jobs, home: this.paths.root, config: { ...this.config, publicUrl: this.config.http.publicUrl },
      submit: async b => await this.handlers.submit(b),
      publish: s => { void this.mesh?.publish(s) },
      mayRegister: k => this.trust == null ? k === this.identity.id : this.trust.hasRole(k, 'submit') || this.trust.hasRole(k, 'admin'),
      mesh: () => this.membership?.mesh.id ?? null,
      logger: scope => this.root.child(scope)
    })
    await this.triggers.start()
  }

  /** a cancel or supersede of a job this node runs stops its run */
  private readonly stopCancelled = (ev: JobEvent): void => {
    if (ev.type === 'cancel-requested' || ev.type === 'superseded') this.runner?.cancel(ev.job, ev.reason ?? ev.type)
  }

  private async startMesh (membership: Membership, meta: MetaStore, recordLog: RecordLog): Promise<void> {
    const trust = this.trust = new TrustService({ meta, log: recordLog, logger: this.root.child('trust'), mesh: membership.mesh })
    await trust.start(membership.records)
    const peerTable = this.peerTable = new PeerTable(meta)
    await peerTable.start()
    const ingest = this.ingest = new Ingest({ trust, jobs: this.jobs, peers: peerTable, logger: this.root.child('ingest'), mesh: membership.mesh.id, records: this.triggers?.registry })
    const listen = this.config.listen.length > 0 ? this.config.listen : DEFAULT_LISTEN
    const mesh = this.mesh = new MeshService({
      identity: this.identity,
      meta,
      recordLog,
      trust,
      jobs: this.jobs,
      peers: peerTable,
      ingest,
      logger: this.root.child('mesh'),
      localReport: () => this.localLoad()
    }, { membership, listen })
    await mesh.start()
    this.claimer = new MeshClaimer({
      self: this.identity.id,
      lease: mesh.lease!.claimant,
      peers: peerTable,
      ownOffer: () => this.ownOffer(),
      canBuild: id => trust.hasRole(id, 'build'),
      refuse: row => isolationRefusal({ isolation: this.sandbox?.isolation ?? 'none', allowUnisolated: this.config.allowUnisolated, self: this.identity.id }, row),
      isMember: id => trust.isMember(id),
      announcement: async id => await this.jobs.store.announcement(id),
      // alone (no other member, or none connected), nothing can be missing
      caughtUp: () => mesh.caughtUp() || mesh.otherMembers() === 0,
      logger: this.root.child('claim')
    })
    this.admin = new MeshAdmin({ identity: this.identity, mesh: membership.mesh, trust, service: mesh })
  }

  /** blob exchange with the mesh, live output, retention */
  private async startTransfers (executor: Executor, blobs: FsBlobStore): Promise<void> {
    const trust = this.trust
    const exchange = this.exchange = new Exchange({
      self: this.identity.id,
      jobs: this.jobs,
      executor,
      blobs,
      logger: this.root.child('exchange'),
      hasRole: trust != null ? (k, r) => trust.hasRole(k, r) : undefined,
      libp2p: this.mesh?.libp2p
    }, { dir: Exchange.dirIn(this.paths.root) })
    await exchange.start()
    this.jobs.on('signed', this.offerResult)
    trust?.on('change', this.recheckAttach)
    this.outputs = new JobOutputs({ jobs: this.jobs, blobs, exchange, self: this.identity.id, logger: this.root.child('output') })
    this.retention = new Retention({
      blobs,
      jobs: this.jobs.store,
      logger: this.root.child('gc'),
      running: () => (this.runner?.runningIds ?? []).map(id => this.jobs.liveName(id)).filter((n): n is string => n != null),
      onRemoved: hash => { this.exchange?.withdraw(hash) }
    }, { ...this.config.retention, workspacesDir: this.paths.workspaces })
  }

  /** what this node stored, it offers to the mesh; and it keeps within its quotas after each run it finishes */
  private readonly offerResult = (s: Signed<unknown>): void => {
    if (s.type !== 'event') return
    const ev = s.payload as JobEvent
    if (ev.type !== 'finished') return
    // fetches of a fresh result ask its executor, named in the result: the records can wait for a quiet spell
    if (ev.result != null && ev.result.cacheHit !== true) this.exchange?.announceLater(blobsOf(ev.result))
    if (this.retention?.hasQuota() === true) {
      this.handlers.gc().catch(err => { this.log.warn('garbage collection failed', { err }) })
    }
  }

  /**
   * a change of roles (a record, an expiry) ends the bulk transfers and attach sessions of peers
   * that no longer hold theirs: each attach session counted as attach-not-allowed
   */
  private readonly recheckAttach = (): void => {
    this.exchange?.recheck()
      .then(closed => { for (let i = 0; i < closed; i++) this.ingest?.drop('attach-not-allowed') })
      .catch(err => { this.log.warn('attach sessions recheck failed', { err }) })
  }

  /** the HTTP face (when switched on), then the control socket */
  private async startFaces (meta: MetaStore): Promise<void> {
    this.queries = new JobQueries({ jobs: this.jobs })
    this.tokens = new TokenStore({ meta, self: this.identity.id })
    // before the control socket: a daemon that answers `status` serves its HTTP face too
    if (this.config.http.listen != null) {
      // loaded only when switched on: Fastify and its parts take a second to import
      const { HttpFace } = await import('./http/face.js')
      this.http = new HttpFace({ handlers: this.handlers, logger: this.root.child('http') }, { ...this.config.http, modules: this.triggers?.httpModules() })
      await this.http.start()
    }
    if (this.init.control !== false) {
      this.control = new ControlServer({ handlers: this.handlers, logger: this.root.child('control'), routes: this.triggers?.controlRoutes }, { socketPath: this.paths.socket })
      await this.control.start()
      await checkSocket(this.paths.socket)
    }
  }

  /** the acceptors a new job names (see `acceptorsFor`) */
  private acceptorsFor (nonce: string): { acceptors: string[], trust: string } | undefined {
    if (this.trust == null) return undefined
    return acceptorsFor(this.trust, this.identity.id, this.mesh?.connectedPeers().length ?? 0, nonce)
  }

  private localLoad (): LocalLoad {
    if (this.load == null) throw new NotStartedError('the load sampler')
    return this.load.sample()
  }

  /** what this node offers right now, as its next load report would say */
  private ownOffer (): Offer {
    return {
      report: { ...this.localLoad(), node: this.identity.id, at: Date.now(), seq: 0, addrs: [] },
      canBuild: this.trust?.hasRole(this.identity.id, 'build') ?? true
    }
  }

  /**
   * Stop the daemon, each part in the reverse order of its start. Running jobs are handed over
   * first (their leases released, `requeued` with the reason) while the mesh is still up to
   * carry that; with `wait` they are finished first instead, and nothing new is claimed.
   */
  async stop (options: { wait?: boolean } = {}): Promise<void> {
    if (options.wait === true && this.stopping == null) {
      this.log.info('daemon stopping after its running jobs', { running: this.runner?.runningIds.length ?? 0 })
      this.state = 'draining'
      await this.mesh?.reportNow().catch(() => {})
      await this.runner?.drain()
    }
    this.stopping ??= this.teardown()
    await this.stopping
  }

  private async teardown (): Promise<void> {
    this.log.info('daemon stopping')
    const steps: Array<[string, (() => Promise<void>) | undefined]> = [
      ['http', this.http != null ? async () => await this.http!.stop() : undefined],
      ['control', this.control != null ? async () => await this.control!.stop() : undefined],
      ['triggers', this.triggers != null ? async () => { this.triggers!.stop() } : undefined],
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
      await stop?.().catch(err => { this.log.error('a part failed to stop', { part, err }) })
    }
    this.log.info('daemon stopped')
    await this.sink?.close()
    await this.releasePid?.()
    this.startedAt = 0
    this.stopped.resolve()
  }

  /** see `installCrashHandlers`: installed once per process by the daemon's entry */
  installCrashHandlers (exit?: (code: number) => void): () => void {
    return installCrashHandlers(() => this.log, async () => await this.stop(), exit)
  }
}
