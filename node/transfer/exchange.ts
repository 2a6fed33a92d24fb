import { join } from 'node:path'
import { AttachService, attach } from '../../protocols/attach/index.js'
import { FetchService, Providers, bulkHostFor } from '../../protocols/fetch/index.js'
import { AttachJobsAdapter, attachPolicy } from '../attach/index.js'
import { Fetcher, RESULT_HOLDERS_SEED_JOBS, ResultHolders } from '../artefacts/index.js'
import { blobsOf } from '../../protocols/job/records.js'
import { ForbiddenError } from '../mesh/mesh-admin.js'
import { shortPeer } from '../short-id.js'
import type { AttachAuthorize } from '../../protocols/attach/index.js'
import type { AttachSession } from '../../protocols/attach/index.js'
import type { ProvidersInit } from '../../protocols/fetch/index.js'
import type { FetchResult, ResultRef } from '../artefacts/index.js'
import type { MeshLibp2p } from '../../protocols/net/index.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'
import type { Executor } from '../executor/index.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobRow } from '../jobs/types.js'
import type { JobEvent } from '../../protocols/job/records.js'
import type { Role } from '../../protocols/trust/index.js'

/** the libp2p parts attach needs when this node is not in a mesh: local sessions only */
const NO_NETWORK = { handle: async () => {}, unhandle: async () => {} }

export interface ExchangeComponents {
  self: string
  jobs: JobService
  executor: Executor
  blobs: BlobStore
  logger: Logger
  /** roles of a key (undefined when not in a mesh: only this node's owner uses it) */
  hasRole?: (keyId: string, role: Role) => boolean
  libp2p?: MeshLibp2p
}

/**
 * What moves bytes between members: blobs by hash (fetch protocol, DHT provider records,
 * multi-holder downloads) and terminals (attach). Without a mesh, attach serves this node's own
 * jobs and fetch reads the local store.
 */
export class Exchange {
  private fetchService?: FetchService
  private providers?: Providers
  private fetcher?: Fetcher
  /** where results' blobs are, from the signed results heard of: a fetch asks there before the DHT */
  private readonly resultHolders = new ResultHolders()
  readonly attach: AttachService
  private readonly authorize: AttachAuthorize
  private started = false
  /** the newest stored results read into `resultHolders` at start (in the background) */
  private seeding?: { controller: AbortController, done: Promise<void> }
  /** bytes this node downloaded from holders (blobs made local by `ensureLocal`) */
  private bytesFetched = 0

  constructor (private readonly c: ExchangeComponents, private readonly init: { dir: string, providers?: ProvidersInit }) {
    const hasRole = c.hasRole ?? ((id: string) => id === c.self)
    this.authorize = attachPolicy({ trust: { hasRole }, submitterOf: async id => (await c.jobs.get(id))?.submitter })
    this.attach = new AttachService({
      libp2p: c.libp2p ?? NO_NETWORK,
      logger: c.logger,
      jobs: new AttachJobsAdapter({ jobs: c.jobs, executor: c.executor }),
      authorize: this.authorize
    })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.attach.start()
    const libp2p = this.c.libp2p
    if (libp2p == null || this.c.hasRole == null) return
    const hasRole = this.c.hasRole
    this.fetchService = new FetchService(
      { libp2p, blobs: this.c.blobs, logger: this.c.logger, isAllowed: peer => hasRole(peer, 'read') || hasRole(peer, 'admin') },
      { bulkHost: bulkHostFor(libp2p.getMultiaddrs()) }
    )
    await this.fetchService.start()
    this.providers = new Providers({ libp2p, blobs: this.c.blobs, logger: this.c.logger }, this.init.providers)
    await this.providers.start()
    const providers = this.providers
    this.fetcher = new Fetcher({
      libp2p,
      blobs: this.c.blobs,
      logger: this.c.logger,
      findHolders: async (h, o) => await providers.findHolders(h, o),
      hintHolders: h => this.resultHolders.holdersOf(h),
      awaitHintHolders: async (h, o) => await this.resultHolders.waitFor(h, o)
    }, { dir: this.init.dir })
    await this.fetcher.start()
    this.c.jobs.on('event', this.learnResult)
    const controller = new AbortController()
    this.seeding = { controller, done: this.seedResultHolders(controller.signal) }
  }

  /**
   * the results stored before this start: a node that restarts still fetches a recent result
   * from its executor, whose provider records may not be out yet (they wait for a quiet spell)
   */
  private async seedResultHolders (signal: AbortSignal): Promise<void> {
    const rows: JobRow[] = []
    try {
      for await (const row of this.c.jobs.store.list({ newestFirst: true, limit: RESULT_HOLDERS_SEED_JOBS, signal })) if (row.log != null) rows.push(row)
    } catch (err) {
      if (!signal.aborted) this.c.logger.warn('could not read the stored results', { err })
      return
    }
    // oldest first, so the newest are the ones kept; results heard meanwhile are newer still
    for (const row of rows.reverse()) {
      const ref = resultRef(row)
      if (ref.blobs.every(h => this.resultHolders.holdersOf(h).length === 0)) this.resultHolders.learn(ref)
    }
  }

  /** a result, this node's or a peer's: its blobs are on the node that ran the job */
  private readonly learnResult = (ev: JobEvent, row?: JobRow): void => {
    if (ev.type !== 'finished' || ev.result == null || row == null || row.log == null) return
    this.resultHolders.learn(resultRef(row))
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.c.jobs.off('event', this.learnResult)
    this.seeding?.controller.abort()
    await this.seeding?.done
    this.seeding = undefined
    await this.fetcher?.stop()
    await this.providers?.stop()
    await this.fetchService?.stop()
    await this.attach.stop()
  }

  /**
   * tell the mesh at once that this node holds these blobs (in the background: provider records
   * take a while), for blobs that no result names, such as a Nix job's input closure, which its
   * builder finds through the DHT alone
   */
  announce (hashes: string[]): void {
    for (const h of hashes) void this.providers?.announce(h).catch(err => { this.c.logger.debug('announce failed', { hash: h, err }) })
  }

  /**
   * tell the mesh this node holds these blobs with the next batch, once the node is quiet: for a
   * result's blobs, which a fetch finds from the signed result meanwhile, and fetched copies
   */
  announceLater (hashes: string[]): void {
    this.providers?.announceSoon(hashes)
  }

  /** stop announcing a blob this node no longer holds */
  withdraw (hash: string): void {
    void this.providers?.withdraw(hash).catch(() => {})
  }

  /** make a blob local: from the store, else from the members that hold it */
  async ensureLocal (hash: string, options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void, holders?: string[] } = {}): Promise<FetchResult | undefined> {
    if (await this.c.blobs.has(hash)) return undefined
    if (this.fetcher == null) return undefined
    const result = await this.fetcher.fetch(hash, options)
    this.bytesFetched += result.bytesFetched
    // a holder now: others find this copy when the executor is gone
    if (!result.local) this.announceLater([hash])
    return result
  }

  /** open a terminal session on the node running `job` (this one, or a peer) */
  async open (job: string, executor: string | undefined, mode: 'ro' | 'rw', size: { cols?: number, rows?: number }, signal?: AbortSignal): Promise<AttachSession> {
    // the executor applies the same policy, but its refusal carries only a code: ask it here
    // first, so a missing role is refused with its reason (and nothing is asked of the mesh)
    const verdict = await this.authorize(this.c.self, job, mode)
    if (verdict.ok !== true) throw new ForbiddenError(`cannot attach${mode === 'rw' ? ' --rw' : ''}: ${verdict.reason ?? 'not allowed'} (this node is ${shortPeer(this.c.self)})`)
    if (executor == null || executor === this.c.self || this.c.libp2p == null) {
      return await this.attach.attachLocal(this.c.self, job, mode, { ...size, signal })
    }
    return await attach(this.c.libp2p, executor, job, mode, { ...size, signal })
  }

  /** roles changed: end what a peer may no longer do (bulk transfers, attach sessions); resolves with the attach sessions closed */
  async recheck (): Promise<number> {
    const cut = this.fetchService?.recheck() ?? 0
    if (cut > 0) this.c.logger.info('bulk transfers cut: their peer may no longer fetch', { cut })
    return await this.attach.recheck()
  }

  stats (): Record<string, unknown> {
    return { fetch: this.fetchService?.stats(), providers: this.providers?.stats(), attach: this.attach.stats(), bytesFetched: this.bytesFetched }
  }

  static dirIn (home: string): string {
    return join(home, 'transfers')
  }
}

/** where a stored result's blobs are, as its row says (a row with a result: `log` is set) */
function resultRef (row: JobRow): ResultRef {
  return { executor: row.executor, origin: row.origin, blobs: blobsOf({ log: row.log!, artefacts: row.artefacts ?? [], nix: row.nix, provenance: row.provenance }) }
}
