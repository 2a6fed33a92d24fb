import { availableParallelism, freemem, loadavg } from 'node:os'
import { parseHash } from '../../store/blobs/index.js'
import { validateJobSpec, resolveParams } from '../../protocols/job/index.js'
import { InvalidInputError, NotStartedError } from '../errors.js'
import { stateWords } from '../jobs/state-words.js'
import { shortPeer } from '../short-id.js'
import { explainWait, pinnedOffers } from '../scheduler/why-waiting.js'
import { NotInMeshError, ForbiddenError } from '../mesh/mesh-admin.js'
import { writeMembership } from '../mesh/membership.js'
import { rebuildSpec } from '../provenance/index.js'
import type { FsBlobStore } from '../../store/blobs/index.js'
import type { AttachSession } from '../../protocols/attach/index.js'
import type { Identity } from '../../protocols/codec/index.js'
import type { JobSpec } from '../../protocols/job/types.js'
import type { NodeState } from '../../protocols/load/index.js'
import type { Logger } from '../../store/logger.js'
import type { NodeConfig } from '../config/config.js'
import type { Sandbox } from '../executor/sandbox/index.js'
import type { HomePaths } from '../home.js'
import type { TokenStore, TokenView } from '../http/tokens.js'
import type { JobOutputs } from '../jobs/outputs.js'
import type { JobQueries } from '../jobs/queries.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobRow, JobSummary, JobView } from '../jobs/types.js'
import type { MeshAdmin } from '../mesh/mesh-admin.js'
import type { Membership } from '../mesh/membership.js'
import type { MeshService } from '../mesh/mesh-service.js'
import type { PeerTable, PeerView } from '../mesh/peer-table.js'
import type { TrustService } from '../mesh/trust-service.js'
import type { NixCache, NixImportReport, NixService, NixSubmitBody } from '../nix/index.js'
import type { ProvenanceLookup, ProvenanceReport } from '../provenance/index.js'
import type { GcReport, Retention } from '../retention.js'
import type { MeshClaimer } from '../scheduler/mesh-claimer.js'
import type { Runner } from '../scheduler/runner.js'
import type { Exchange } from '../transfer/exchange.js'
import type { Triggers } from '../triggers/index.js'
import { sourceProblem } from '../../protocols/job/source.js'
import type { ControlHandlers, JobPage, JobQuery, JobWatcher, OutputStream, StatusView, SubmitBody, TrustView } from './types.js'

/**
 * The parts of a running daemon the handlers answer from (`CitNode` wires them). Parts that exist
 * only in a mesh, or only once started, are optional; `state` is the node's own word on whether it
 * takes work, which its load reports carry.
 */
export interface NodeParts {
  readonly identity: Identity
  readonly config: NodeConfig
  readonly paths: HomePaths
  readonly jobs: JobService
  readonly log: Logger
  readonly startedAt: number
  readonly blobs?: FsBlobStore
  readonly runner?: Runner
  readonly exchange?: Exchange
  readonly outputs?: JobOutputs
  readonly retention?: Retention
  readonly claimer?: MeshClaimer
  readonly sandbox?: Sandbox
  readonly queries?: JobQueries
  readonly tokens?: TokenStore
  readonly membership?: Membership
  readonly trust?: TrustService
  readonly peerTable?: PeerTable
  readonly mesh?: MeshService
  readonly admin?: MeshAdmin
  readonly nix?: NixService
  readonly nixCache?: NixCache
  readonly provenance?: ProvenanceLookup
  /** repositories, hooks, webhooks, build numbers, commit statuses */
  readonly triggers?: Triggers
  state: NodeState
  stop: (options?: { wait?: boolean }) => Promise<void>
}

/** A part that must exist by the time a request can arrive (the control socket opens last). */
function need<T> (part: T | undefined, name: string): T {
  if (part == null) throw new NotStartedError(`the daemon's ${name}`)
  return part
}

/**
 * What the control socket and the HTTP face do for each request: validation, the permission checks
 * a local caller is held to (the same ones the mesh applies to this node's signed events), and the
 * call into the part that does the work.
 */
export class NodeHandlers implements ControlHandlers {
  private collecting?: Promise<GcReport>

  constructor (private readonly n: NodeParts) {}

  async stop (options?: { wait?: boolean }): Promise<void> { await this.n.stop(options) }

  async status (): Promise<StatusView> {
    const { n } = this
    return {
      peerId: n.identity.id,
      pid: process.pid,
      addrs: n.mesh?.addrs() ?? [],
      mesh: n.membership?.mesh.id ?? null,
      state: n.trust?.isRevoked(n.identity.id) === true ? 'revoked' : n.state === 'gone' ? 'paused' : n.state,
      roles: n.trust?.rolesOf(n.identity.id) ?? [],
      connected: n.mesh?.connectedPeers().length ?? 0,
      nixCacheKey: n.nixCache?.publicKey ?? null,
      dropped: n.mesh != null ? (n.mesh.stats().ingest as { dropped: Record<string, number> }).dropped : {},
      messages: n.mesh != null ? { ...n.mesh.stats(), ...n.exchange?.stats() } : null,
      labels: n.config.labels,
      load: { load1: loadavg()[0], cores: availableParallelism(), memFreeBytes: freemem(), slotsFree: n.runner?.freeSlots ?? 0 },
      running: n.runner?.runningIds ?? [],
      isolation: n.sandbox?.isolation ?? 'none',
      isolationDetail: n.sandbox?.detail ?? 'not started',
      home: n.paths.root,
      startedAt: n.startedAt
    }
  }

  /** this node's key must hold `submit` in its mesh (a node on its own may always submit) */
  private requireSubmit (): void {
    if (this.n.trust != null && !this.n.trust.hasRole(this.n.identity.id, 'submit')) {
      throw new ForbiddenError(`this node's key ${this.n.identity.id} does not hold the submit role in this mesh`)
    }
  }

  async submit (body: SubmitBody): Promise<JobView> {
    const { spec, problems } = validateJobSpec(body.spec)
    if (spec == null || problems.length > 0) throw new InvalidInputError(`invalid job: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`, problems)
    const resolved = resolveParams(spec, body.params ?? {})
    if (resolved.problems.length > 0) throw new InvalidInputError(`invalid params: ${resolved.problems.map(p => `${p.path}: ${p.message}`).join('; ')}`, resolved.problems)
    if (body.priority != null && !Number.isSafeInteger(body.priority)) throw new InvalidInputError('priority: must be a whole number')
    this.requireSubmit()
    const { jobs, identity } = this.n
    const bad = body.source != null ? sourceProblem(body.source) : undefined
    if (bad != null) throw new InvalidInputError(`source: ${bad}`)
    const cached = spec.cache ? await jobs.cachedResult(spec, resolved.values, body.source) : undefined
    const build = await this.n.triggers?.builds.next(spec.name)
    // the answer is the job as just written, not read back (JobService.submitWithView)
    return (await jobs.submitWithView({ spec, params: resolved.values, priority: body.priority, cached, runOn: body.here === true ? identity.id : undefined, source: body.source, build })).view
  }

  /** a derivation the CLI evaluated: its closure into the content store, then a job that realises it */
  async submitNix (body: NixSubmitBody): Promise<JobView> {
    return await need(this.n.nix, 'Nix service').submit(body)
  }

  /** a Nix job's output closures (or one by hash) into this machine's Nix store */
  async nixImport (ref: string, signal?: AbortSignal): Promise<NixImportReport> {
    return await need(this.n.nix, 'Nix service').import(ref, { signal })
  }

  // the read-only Nix binary cache of the HTTP face (node/nix/cache.ts)
  nixCacheInfo (): string { return need(this.n.nixCache, 'Nix cache').cacheInfo() }
  async nixNarinfo (hashPart: string, signal?: AbortSignal): Promise<string> { return await need(this.n.nixCache, 'Nix cache').narinfo(hashPart, { signal }) }
  async nixNar (file: string, signal?: AbortSignal): Promise<{ size: number, stream: AsyncIterable<Uint8Array> }> { return await need(this.n.nixCache, 'Nix cache').nar(file, { signal }) }

  /** the provenance of a hash, every signature checked; `envelope` (base64): check that statement instead */
  async verify (body: { hash: string, envelope?: string }, signal?: AbortSignal): Promise<ProvenanceReport> {
    const envelope = typeof body?.envelope === 'string' ? Buffer.from(body.envelope, 'base64') : undefined
    return await need(this.n.provenance, 'provenance lookup').verify(parseHash(String(body?.hash ?? '')), { envelope, signal })
  }

  /** re-run the job that built what `ref` names on another member (`verify --rebuild`) */
  async rebuild (ref: string): Promise<JobView> {
    if (this.n.trust == null) throw new NotInMeshError()
    const row = await need(this.n.provenance, 'provenance lookup').built(ref)
    return await this.submit({ spec: rebuildSpec(row), params: row.params, priority: row.priority })
  }

  async list (options: { limit?: number } = {}): Promise<JobSummary[]> {
    const { jobs } = this.n
    const out: JobSummary[] = []
    for await (const row of jobs.store.list({ newestFirst: true, limit: options.limit })) {
      out.push(await jobs.summary((await jobs.get(row.id)) ?? row))
    }
    return out
  }

  async show (ref: string): Promise<JobView> {
    const row = await this.n.jobs.resolve(ref)
    const view = await this.n.jobs.view(row)
    if (view.state === 'queued' && view.reason == null) view.reason = this.whyWaiting(row)
    return view
  }

  /** for a queued job: why no node has taken it yet */
  private whyWaiting (row: JobRow): string {
    const { claimer, runner } = this.n
    if (claimer != null) return explainWait(row.spec, pinnedOffers(row, claimer.offers()), this.n.identity.id)
    if (this.n.state === 'draining') return 'this node is draining: it finishes what runs and takes nothing new (`cit-node resume` claims again)'
    if (runner?.isPaused === true) return 'this node is paused (`cit-node resume` claims again)'
    if (runner?.freeSlots === 0) return `this node is busy, each of its ${runner.slotCount} slots running a job ("slots" in config.json sets how many run at once)`
    return 'waiting to be run'
  }

  /** change a queued job's priority (its submitter or an admin), as a signed event */
  async reprioritize (ref: string, priority: number): Promise<JobView> {
    if (!Number.isSafeInteger(priority)) throw new InvalidInputError('priority: must be a whole number')
    const row = await this.n.jobs.resolve(ref)
    if (row.submitter !== this.n.identity.id && this.n.trust != null && !this.n.trust.hasRole(this.n.identity.id, 'admin')) {
      throw new ForbiddenError('only the job\'s submitter or an admin may change its priority')
    }
    if (row.state !== 'queued') throw new InvalidInputError(`job ${row.id} ${stateWords(row.state)}: only a queued job's priority can change`)
    await this.n.jobs.transition(row.id, 'reprioritized', { priority })
    return await this.show(row.id)
  }

  async cancel (ref: string): Promise<JobView> {
    const { jobs } = this.n
    const row = await jobs.resolve(ref)
    // the mesh refuses a cancel from anyone else (jobs/authority.ts): never record one here either
    if (row.submitter !== this.n.identity.id && !(this.n.trust?.hasRole(this.n.identity.id, 'admin') ?? false)) {
      throw new ForbiddenError(`only the job's submitter (${shortPeer(row.submitter)}) or an admin may cancel it`)
    }
    await jobs.transition(row.id, 'cancel-requested', { reason: 'cancelled by the user' })
    if (!need(this.n.runner, 'runner').cancel(row.id, 'cancelled by the user') && (row.state === 'queued' || row.state === 'claimed')) {
      await jobs.transition(row.id, 'cancelled', { state: 'cancelled', reason: 'cancelled by the user' })
    }
    return await this.show(row.id)
  }

  async wait (ref: string, signal: AbortSignal): Promise<JobView> {
    const row = await this.n.jobs.resolve(ref)
    return await this.n.jobs.view(await this.n.jobs.waitFinal(row.id, { signal }))
  }

  async output (ref: string, follow: boolean, signal?: AbortSignal): Promise<OutputStream> {
    return await need(this.n.outputs, 'output service').output(ref, follow, signal)
  }

  async peers (): Promise<PeerView[]> {
    if (this.n.peerTable == null) throw new NotInMeshError()
    return this.n.peerTable.view(this.n.identity.id, id => this.n.trust?.isRevoked(id) === true)
  }

  /** pause (claim nothing), resume, or drain (finish what runs, then claim nothing) */
  async setState (state: 'active' | 'paused' | 'draining'): Promise<StatusView> {
    if (!['active', 'paused', 'draining'].includes(state)) throw new InvalidInputError('state: must be active, paused or draining')
    need(this.n.runner, 'runner').setPaused(state !== 'active')
    // a drained node stays `draining` (not `paused`): people asked for one and not the other
    this.n.state = state
    this.n.log.info('node state changed', { state })
    // the mesh hears of it now, not at the next report
    await this.n.mesh?.reportNow()
    return await this.status()
  }

  async invite (body: { roles?: unknown, ttlMs?: number }): Promise<{ token: string, roles: string[], expiresAt: number }> {
    if (this.n.admin == null) throw new NotInMeshError()
    return await this.n.admin.invite(body)
  }

  async trustList (): Promise<TrustView> {
    const { trust, membership } = this.n
    if (trust == null || membership == null) throw new NotInMeshError()
    return { mesh: membership.mesh.id, members: trust.state.members(), revocations: trust.state.revocations() }
  }

  async trustGrant (body: { key: string, roles: unknown, ttlMs?: number }): Promise<{ hash: string }> {
    if (this.n.admin == null) throw new NotInMeshError()
    return await this.n.admin.grant(String(body.key ?? ''), body.roles, { ttlMs: body.ttlMs })
  }

  async trustRevoke (body: { key: string }): Promise<{ hash: string }> {
    if (this.n.admin == null) throw new NotInMeshError()
    return await this.n.admin.revoke(String(body.key ?? ''))
  }

  /** Tell the mesh this node is gone, stop claiming, and leave: the home keeps its history. */
  async leave (): Promise<{ left: boolean }> {
    const { membership, mesh } = this.n
    if (membership == null || mesh == null) throw new NotInMeshError()
    need(this.n.runner, 'runner').setPaused(true)
    this.n.state = 'gone'
    await mesh.reportNow()
    await writeMembership(this.n.paths.root, { ...membership, leftAt: Date.now() })
    setImmediate(() => { this.n.stop().catch(err => { this.n.log.error('stop after leave failed', { err }) }) })
    return { left: true }
  }

  /**
   * Make a blob local, fetching it from the members that hold it; reports progress. Returns
   * where the bytes came from.
   */
  async fetchBlob (hash: string, onProgress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<{ sha256: string, size: number, local: boolean, bytesFetched: number, holders: Record<string, number> }> {
    const h = parseHash(hash)
    const r = await this.n.exchange?.ensureLocal(h, { onProgress, signal })
    const info = await need(this.n.blobs, 'blob store').stat(h)
    return { sha256: h, size: info.size, local: r == null || r.local, bytesFetched: r?.bytesFetched ?? 0, holders: r?.byHolder ?? {} }
  }

  /** evict least recently used blobs and workspaces beyond the quotas (one collection at a time) */
  async gc (): Promise<GcReport> {
    this.collecting ??= need(this.n.retention, 'retention').collect().finally(() => { this.collecting = undefined })
    return await this.collecting
  }

  /** a terminal session on a running job, wherever it runs (attach) */
  async openAttach (ref: string, mode: 'ro' | 'rw', size: { cols?: number, rows?: number }, signal?: AbortSignal): Promise<AttachSession> {
    const row = await this.n.jobs.resolve(ref)
    if (row.state !== 'running' && row.state !== 'claimed') throw new InvalidInputError(`job ${row.id} ${stateWords(row.state)}: only a running job has a terminal (see \`cit-node logs\`)`)
    return await need(this.n.exchange, 'exchange').open(row.id, row.executor, mode, size, signal)
  }

  async blob (hash: string, options: { start?: number, end?: number, signal?: AbortSignal } = {}): Promise<{ size: number, stream: AsyncIterable<Uint8Array> }> {
    const h = parseHash(hash)
    const blobs = need(this.n.blobs, 'blob store')
    await this.n.exchange?.ensureLocal(h, { signal: options.signal })
    // check the whole blob before the first byte goes out: a corrupt one is refused with its hash
    // named (and quarantined) instead of a transfer cut off half-way
    await blobs.verify(h, { signal: options.signal })
    const info = await blobs.stat(h)
    return { size: info.size, stream: blobs.get(h, options) }
  }

  // the HTTP face's queries, re-run and bearer tokens (node/http)
  async findJobs (query: JobQuery): Promise<JobPage> { return await need(this.n.queries, 'job queries').find(query) }
  async jobSpec (ref: string): Promise<{ id: string, spec: JobSpec }> { const row = await this.n.jobs.resolve(ref); return { id: row.id, spec: row.spec } }
  watchJobs (watcher: JobWatcher): () => void { return need(this.n.queries, 'job queries').watch(watcher) }
  async tokenCreate (body: { role?: unknown, ttlMs?: unknown, label?: unknown }): Promise<TokenView & { token: string }> { return await need(this.n.tokens, 'token store').create(body) }
  async tokenList (): Promise<TokenView[]> { return await need(this.n.tokens, 'token store').list() }
  async tokenRevoke (id: string, options?: { purge?: boolean }): Promise<TokenView> { return await need(this.n.tokens, 'token store').revoke(id, options) }
  async tokenCheck (text: string): Promise<TokenView | undefined> { return await need(this.n.tokens, 'token store').check(text) }

  /** the same spec, parameters and priority as a new job (never served from the result cache) */
  async rerun (ref: string): Promise<JobView> {
    const row = await this.n.jobs.resolve(ref)
    this.requireSubmit()
    const build = await this.n.triggers?.builds.next(row.spec.name)
    return (await this.n.jobs.submitWithView({ spec: row.spec, params: row.params, priority: row.priority, source: row.source, build })).view
  }
}
