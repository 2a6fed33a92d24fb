import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../../protocols/codec/index.js'
import { createMesh } from '../../../protocols/trust/index.js'
import { silentLogger } from '../../../store/logger.js'
import { Ingest } from '../../../node/mesh/ingest.js'
import { claimAcceptors } from '../../../node/mesh/claim-acceptors.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import type { MeshInfo } from '../../../protocols/trust/index.js'
import type { JobServiceOnDisk } from '../../helpers/job-service.js'

const spec = { name: 'x', priority: 0, timeoutMs: 60000, requires: { labels: [], cores: 1, memoryBytes: 0 }, params: {}, supersede: 'waiting', cache: false, stages: [{ title: 's', steps: [{ title: 't', command: 'true', ignoreExitCode: false }] }], artefacts: [] }

describe('claimAcceptors: an acceptor places a claimed job by the announcement sent along', () => {
  let parts: JobServiceOnDisk<true>
  let admin: Identity
  let mesh: MeshInfo
  let ingest: Ingest
  let acceptors: string[] = []
  const announce = (by: Identity, nonce = '0011223344556677'): ReturnType<typeof seal> =>
    seal(by, 'job', { spec, params: {}, priority: 0, submittedAt: Date.now(), node: by.id, nonce, mesh: mesh.id, acceptors, trust: '0'.repeat(32) })

  beforeEach(async () => {
    admin = await Identity.generate()
    // named by a builder set this node does not know (its digest differs): taken as they are
    acceptors = await Promise.all([1, 2, 3].map(async () => (await Identity.generate()).id))
    mesh = createMesh(admin)
    parts = await jobServiceOnDisk({ prefix: 'cit-claim-acc-', identity: admin, trust: mesh, mesh: mesh.id, adminsFromTrust: true })
    ingest = new Ingest({ trust: parts.trust, jobs: parts.jobs, peers: parts.peers, logger: silentLogger, mesh: mesh.id })
  })
  afterEach(async () => { await parts.close() })

  it('a job not heard of yet: its acceptors come from the announcement, and the job is then kept as a gossiped one', async () => {
    const ann = announce(admin)
    expect(await parts.jobs.get(ann.hash)).toBeUndefined()
    const r = claimAcceptors({ jobs: parts.jobs, ingest, logger: silentLogger }, ann.hash, ann.bytes)
    expect(await r.acceptors).toEqual(acceptors)
    await r.kept
    const row = await parts.jobs.get(ann.hash)
    expect(row?.acceptors).toEqual(acceptors)
    expect(await parts.jobs.store.announcement(ann.hash)).toEqual(ann.bytes)
    // asked again (a retry, or the gossiped copy arriving): nothing is applied twice
    await claimAcceptors({ jobs: parts.jobs, ingest, logger: silentLogger }, ann.hash, ann.bytes).kept
    expect(ingest.stats().dropped.duplicate ?? 0).toBe(0)
  })

  it('an announcement that is not the claimed job\'s, or not a member\'s, places nothing', async () => {
    const ann = announce(admin)
    const other = announce(admin, '8899aabbccddeeff')
    expect(await claimAcceptors({ jobs: parts.jobs, ingest, logger: silentLogger }, other.hash, ann.bytes).acceptors).toBeUndefined()
    const stranger = await Identity.generate()
    const foreign = announce(stranger)
    const r = claimAcceptors({ jobs: parts.jobs, ingest, logger: silentLogger }, foreign.hash, foreign.bytes)
    expect(await r.acceptors).toBeUndefined()
    await r.kept
    expect(await parts.jobs.get(foreign.hash)).toBeUndefined()
    expect(await parts.jobs.get(other.hash)).toBeUndefined()
  })

  it('without an announcement a known job is placed by its stored row', async () => {
    const ann = announce(admin)
    await claimAcceptors({ jobs: parts.jobs, ingest, logger: silentLogger }, ann.hash, ann.bytes).kept
    expect(await claimAcceptors({ jobs: parts.jobs, ingest, logger: silentLogger }, ann.hash).acceptors).toEqual(acceptors)
    const unknown = announce(admin, 'ffeeddccbbaa9988')
    expect(await claimAcceptors({ jobs: parts.jobs, ingest, logger: silentLogger }, unknown.hash).acceptors).toBeUndefined()
  })
})
