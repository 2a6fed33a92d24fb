import { join } from 'node:path'
import { Identity } from '../../protocols/codec/index.js'
import { MetaStore, RecordLog } from '../../store/meta/index.js'
import { silentLogger } from '../../store/logger.js'
import { JobService } from '../../node/jobs/job-service.js'
import { JobStore } from '../../node/jobs/job-store.js'
import { PeerTable } from '../../node/mesh/peer-table.js'
import { TrustService } from '../../node/mesh/trust-service.js'
import { tempHome } from './cli.js'
import type { MeshInfo } from '../../protocols/trust/index.js'

/** what varies between the tests that need a job service on disk; all optional */
export interface JobServiceOnDiskOptions {
  /** the temp directory's name prefix (default `cit-jobs-`) */
  prefix?: string
  /** who signs the node's records (default: a new key) */
  identity?: Identity
  /** also a TrustService (started) and a PeerTable (started) for this mesh, over the same store */
  trust?: MeshInfo
  /** the mesh id the JobService names in what it signs (default: none, as outside a mesh) */
  mesh?: string
  /** admins are who the trust state says now, as the daemon wires it (needs `trust`) */
  adminsFromTrust?: boolean
}

/** A real LevelDB MetaStore, RecordLog, JobStore and JobService in a temp dir, all started; `InMesh` with the `trust` option. */
export interface JobServiceOnDisk<InMesh extends boolean = false> {
  /** the temp directory (the database is in `db/` under it); free for a test's other parts */
  dir: string
  identity: Identity
  meta: MetaStore
  log: RecordLog
  store: JobStore
  jobs: JobService
  /** with the `trust` option only */
  trust: InMesh extends true ? TrustService : undefined
  /** with the `trust` option only */
  peers: InMesh extends true ? PeerTable : undefined
  /** the same parts stopped and built again over the same directory (a node restart); this one is then closed */
  reopen: () => Promise<JobServiceOnDisk<InMesh>>
  /** stop every part and remove the directory; idempotent */
  close: () => Promise<void>
}

/**
 * The fixture of the unit tests that need jobs on disk: real parts (no mocks) in a temp dir,
 * built in the daemon's order. `close()` stops them in reverse and removes the dir.
 */
export async function jobServiceOnDisk (options: JobServiceOnDiskOptions & { trust: MeshInfo }): Promise<JobServiceOnDisk<true>>
export async function jobServiceOnDisk (options?: JobServiceOnDiskOptions): Promise<JobServiceOnDisk>
export async function jobServiceOnDisk (options: JobServiceOnDiskOptions = {}): Promise<JobServiceOnDisk<boolean>> {
  const home = await tempHome(options.prefix ?? 'cit-jobs-')
  try {
    return await build(home, options)
  } catch (err) {
    await home.cleanup()
    throw err
  }
}

async function build (home: { dir: string, cleanup: () => Promise<void> }, options: JobServiceOnDiskOptions): Promise<JobServiceOnDisk<boolean>> {
  const identity = options.identity ?? await Identity.generate()
  const meta = new MetaStore({}, { path: join(home.dir, 'db') })
  await meta.start()
  const log = new RecordLog(meta)
  let trust: TrustService | undefined
  let peers: PeerTable | undefined
  const stop = async (): Promise<void> => {
    trust?.stop()
    await peers?.stop()
    await log.stop()
    await meta.stop()
  }
  try {
    await log.start()
    if (options.trust != null) {
      const t = new TrustService({ meta, log, logger: silentLogger, mesh: options.trust })
      await t.start()
      trust = t
      peers = new PeerTable(meta)
      await peers.start()
    }
  } catch (err) {
    await stop()
    throw err
  }
  const store = new JobStore(meta, log)
  if (options.adminsFromTrust === true) {
    if (trust == null) throw new Error('adminsFromTrust needs the trust option')
    const t = trust
    store.isAdmin = (key, at) => t.roleAt(key, 'admin', at) !== 'not-held'
  }
  const jobs = new JobService({ identity, store, logger: silentLogger, ...(options.mesh != null ? { mesh: options.mesh } : {}) })
  let closed: Promise<void> | undefined
  return {
    dir: home.dir,
    identity,
    meta,
    log,
    store,
    jobs,
    trust,
    peers,
    reopen: async () => {
      closed ??= stop()
      await closed
      return await build(home, { ...options, identity })
    },
    close: async () => {
      closed ??= stop().finally(home.cleanup)
      await closed
    }
  }
}
