import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../../protocols/codec/index.js'
import { createMesh, makeGrant, makeRevoke } from '../../../protocols/trust/index.js'
import { MetaStore, RecordLog } from '../../../store/meta/index.js'
import { silentLogger } from '../../../store/logger.js'
import { JobService } from '../../../node/jobs/job-service.js'
import { JobStore } from '../../../node/jobs/job-store.js'
import { Ingest } from '../../../node/mesh/ingest.js'
import { PeerTable } from '../../../node/mesh/peer-table.js'
import { TrustService } from '../../../node/mesh/trust-service.js'
import { tempHome } from '../../helpers/cli.js'
import type { MeshInfo } from '../../../protocols/trust/index.js'

const spec = { name: 'x', priority: 0, timeoutMs: 60000, requires: { labels: [], cores: 1, memoryBytes: 0 }, params: {}, supersede: 'waiting', cache: false, stages: [{ title: 's', steps: [{ title: 't', command: 'true', ignoreExitCode: false }] }], artefacts: [] }
const announce = (id: Identity, nonce = '0011223344556677'): ReturnType<typeof seal> =>
  seal(id, 'job', { spec, params: {}, priority: 0, submittedAt: Date.now(), node: id.id, nonce })

describe('Ingest: what peers send is authorised by role before it is acted on', () => {
  let dir: { dir: string, cleanup: () => Promise<void> }
  let meta: MetaStore
  let admin: Identity
  let member: Identity
  let mesh: MeshInfo
  let trust: TrustService
  let jobs: JobService
  let ingest: Ingest

  beforeEach(async () => {
    dir = await tempHome('cit-ingest-')
    meta = new MetaStore({}, { path: `${dir.dir}/db` })
    await meta.start()
    const log = new RecordLog(meta)
    await log.start()
    admin = await Identity.generate()
    member = await Identity.generate()
    mesh = createMesh(admin)
    trust = new TrustService({ meta, log, logger: silentLogger, mesh })
    await trust.start()
    const peers = new PeerTable(meta)
    await peers.start()
    jobs = new JobService({ identity: admin, store: new JobStore(meta, log), logger: silentLogger })
    ingest = new Ingest({ trust, jobs, peers, logger: silentLogger })
  })

  afterEach(async () => {
    await meta.stop()
    await dir.cleanup()
  })

  const deliver = async (bytes: Uint8Array, kind: 'job' | 'event' | 'load' | 'trust'): Promise<string | undefined> => {
    const v = ingest.check(bytes, kind)
    if (!v.ok) return v.reason
    await ingest.apply(v.value)
    return undefined
  }

  it('a member with submit is heard; after its revocation its new announcements are dropped', async () => {
    expect(await deliver(makeGrant(admin, mesh, member.publicKey, ['submit']).bytes, 'trust')).toBeUndefined()
    const first = announce(member)
    expect(await deliver(first.bytes, 'job')).toBeUndefined()
    expect(await jobs.get(first.hash)).toBeDefined()
    // the same bytes again: a duplicate, acted on once
    await deliver(first.bytes, 'job')
    expect(ingest.stats().dropped.duplicate).toBe(1)
    await new Promise(resolve => setTimeout(resolve, 2))
    expect(await deliver(makeRevoke(admin, mesh, member.publicKey).bytes, 'trust')).toBeUndefined()
    const second = announce(member, '8899aabbccddeeff')
    expect(await deliver(second.bytes, 'job')).toBe('not-a-member')
    expect(await jobs.get(second.hash)).toBeUndefined()
  })

  it('roles gate each kind: no submit, no build, wrong signer, wrong topic', async () => {
    await deliver(makeGrant(admin, mesh, member.publicKey, ['read']).bytes, 'trust')
    expect(await deliver(announce(member).bytes, 'job')).toBe('no-submit-role')
    const job = announce(admin)
    await deliver(job.bytes, 'job')
    const result = { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log: 'a'.repeat(64), artefacts: [] }
    const fake = seal(member, 'event', { job: job.hash, type: 'finished', node: member.id, at: Date.now(), state: 'succeeded', result, epoch: 1 })
    expect(await deliver(fake.bytes, 'event')).toBe('no-build-role')
    const posing = seal(admin, 'event', { job: job.hash, type: 'claimed', node: member.id, at: Date.now(), state: 'claimed', epoch: 1 })
    expect(await deliver(posing.bytes, 'event')).toBe('no-build-role')
    expect(await deliver(job.bytes, 'event')).toBe('wrong-topic')
    const stranger = await Identity.generate()
    expect(await deliver(announce(stranger).bytes, 'job')).toBe('not-a-member')
    expect((await jobs.get(job.hash))?.state).toBe('queued')
  })

  it('load reports: replays and reports signed for another node are dropped', async () => {
    const report = { node: admin.id, at: Date.now(), seq: 2, load1: 0.1, cores: 2, memFreeBytes: 1, memTotalBytes: 2, slots: 1, slotsFree: 1, labels: [], state: 'active', running: [], addrs: [], workspaces: [], loadLimit: 2 }
    expect(await deliver(seal(admin, 'load', report).bytes, 'load')).toBeUndefined()
    // an older report of the same node passes the checks but changes nothing
    expect(await deliver(seal(admin, 'load', { ...report, seq: 1 }).bytes, 'load')).toBeUndefined()
    expect(ingest.stats().dropped.replay).toBe(1)
    expect(await deliver(seal(admin, 'load', { ...report, at: report.at - 120_000, seq: 3 }).bytes, 'load')).toBe('stale')
    await deliver(makeGrant(admin, mesh, member.publicKey, ['build']).bytes, 'trust')
    expect(await deliver(seal(member, 'load', { ...report, seq: 9 }).bytes, 'load')).toBe('load-not-own')
  })
})
