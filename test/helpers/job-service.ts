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

/** what varies between the tests that need jobs on disk; all optional */
export interface JobServiceOnDiskOptions {
  /** the temp directory's name prefix (default `cit-jobs-`) */
  prefix?: string
  /** who signs the node's records (default: a new key) */
  identity?: Identity
  /** also a started TrustService and PeerTable of this mesh over the same store */
  trust?: MeshInfo
  /** the mesh id the JobService names in what it signs (default: none, as outside a mesh) */
  mesh?: string
  /** admins are who the trust state says now, as the daemon wires it (needs `trust`) */
  adminsFromTrust?: boolean
}

/** Started parts over one LevelDB in a temp dir; `InMesh` with the `trust` option. */
export interface JobServiceOnDisk<InMesh extends boolean = false> {
  /** the temp directory (the database is its `db/`); free for a test's other parts */
  dir: string
  identity: Identity
  meta: MetaStore
  log: RecordLog
  store: JobStore
  jobs: JobService
  trust: InMesh extends true ? TrustService : undefined
  peers: InMesh extends true ? PeerTable : undefined
  /** stop these parts and build them again over the same directory (a node restart) */
  reopen: () => Promise<JobServiceOnDisk<InMesh>>
  /** stop every part and remove the directory; idempotent */
  close: () => Promise<void>
}

/** The fixture of the unit tests that need jobs on disk: a real MetaStore, RecordLog, JobStore and JobService (no mocks). */
export async function jobServiceOnDisk (options: JobServiceOnDiskOptions & { trust: MeshInfo }): Promise<JobServiceOnDisk<true>>
export async function jobServiceOnDisk (options?: JobServiceOnDiskOptions): Promise<JobServiceOnDisk>
export async function jobServiceOnDisk (options: JobServiceOnDiskOptions = {}): Promise<JobServiceOnDisk<boolean>> {
  const home = await tempHome(options.prefix ?? 'cit-jobs-')
  return await build(home, options).catch(async (err: unknown) => { await home.cleanup(); throw err })
}

async function build (home: { dir: string, cleanup: () => Promise<void> }, options: JobServiceOnDiskOptions): Promise<JobServiceOnDisk<boolean>> {
  const identity = options.identity ?? await Identity.generate()
  const meta = new MetaStore({}, { path: join(home.dir, 'db') })
  const log = new RecordLog(meta)
  const trust = options.trust != null ? new TrustService({ meta, log, logger: silentLogger, mesh: options.trust }) : undefined
  const peers = options.trust != null ? new PeerTable(meta) : undefined
  const stop = async (): Promise<void> => {
    trust?.stop()
    await peers?.stop()
    await log.stop()
    await meta.stop()
  }
  try {
    await meta.start()
    await log.start()
    await trust?.start()
    await peers?.start()
  } catch (err) {
    await stop()
    throw err
  }
  const store = new JobStore(meta, log)
  if (options.adminsFromTrust === true) store.isAdmin = (key, at) => (trust?.roleAt(key, 'admin', at) ?? 'not-held') !== 'not-held'
  const jobs = new JobService({ identity, store, logger: silentLogger, ...(options.mesh != null ? { mesh: options.mesh } : {}) })
  let stopped: Promise<void> | undefined
  return {
    dir: home.dir, identity, meta, log, store, jobs, trust, peers,
    reopen: async () => {
      await (stopped ??= stop())
      return await build(home, { ...options, identity })
    },
    close: async () => { await (stopped ??= stop().finally(home.cleanup)) }
  }
}
