/**
 * The Exchange on its own: two real libp2p nodes on 127.0.0.1, each with a real blob store and job
 * store in a temp dir. Roles are the seam (`hasRole`): the mesh's trust service is tested apart.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Identity } from '../../../protocols/codec/index.js'
import { FsBlobStore } from '../../../store/blobs/index.js'
import { silentLogger } from '../../../store/logger.js'
import { Executor } from '../../../node/executor/index.js'
import { Exchange } from '../../../node/transfer/exchange.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import { waitFor } from '../../helpers/wait.js'
import { collect } from '../../store/blob-store-compliance.js'
import { connected, TestMesh } from '../../protocols/net/helpers.js'
import type { Role } from '../../../protocols/trust/index.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'
import type { ProvidersInit } from '../../../protocols/fetch/index.js'
import type { JobService } from '../../../node/jobs/job-service.js'
import type { JobResult } from '../../../protocols/job/records.js'
import type { JobSpec } from '../../../protocols/job/types.js'
import type { Signed } from '../../../protocols/codec/index.js'
import type { JobAnnouncement, JobEvent } from '../../../protocols/job/records.js'

interface Side { id: Identity, exchange: Exchange, blobs: FsBlobStore, jobs: JobService, libp2p?: MeshLibp2p, close: () => Promise<void>, restart: () => Promise<void> }

const spec = { name: 'built', priority: 0, timeoutMs: 60000, requires: { labels: [], cores: 1, memoryBytes: 0 }, params: {}, supersede: 'waiting', cache: false, stages: [{ title: 's', steps: [{ title: 't', command: 'true', ignoreExitCode: false }] }], artefacts: [] } as unknown as JobSpec

describe('Exchange', () => {
  const mesh = new TestMesh()
  const closers: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c()
    await mesh.stop()
  })

  async function side (roles: Map<string, Role[]> | undefined, options: { network?: boolean, bootstrap?: string[], providers?: ProvidersInit } = {}): Promise<Side> {
    const id = await mesh.identity()
    const t = await jobServiceOnDisk({ prefix: 'cit-exchange-', identity: id })
    const blobs = new FsBlobStore({}, { dir: join(t.dir, 'blobs') })
    await blobs.start()
    const jobs = t.jobs
    const executor = new Executor({ blobs }, { workspacesDir: join(t.dir, 'workspaces') })
    const libp2p = options.network === false ? undefined : await mesh.node(id, { bootstrap: options.bootstrap ?? [] })
    const make = (): Exchange => new Exchange({
      self: id.id,
      jobs,
      executor,
      blobs,
      logger: silentLogger,
      hasRole: roles != null ? (k, r) => roles.get(k)?.includes(r) === true : undefined,
      libp2p
    }, { dir: Exchange.dirIn(t.dir), providers: options.providers })
    const s = { id, exchange: make(), blobs, jobs, libp2p } as Side
    await s.exchange.start()
    s.close = async (): Promise<void> => {
      await s.exchange.stop()
      await blobs.stop()
      await t.close()
    }
    // a new exchange over the same stores: what it knows is what is on disk
    s.restart = async (): Promise<void> => {
      await s.exchange.stop()
      s.exchange = make()
      await s.exchange.start()
    }
    closers.push(async () => { await s.close() })
    return s
  }

  it('without a mesh: a local blob is already local, a missing one is nobody\'s to fetch; start and stop are idempotent', async () => {
    const a = await side(undefined, { network: false })
    const { hash } = await a.blobs.put([Buffer.from('here already')])
    expect(await a.exchange.ensureLocal(hash)).toBeUndefined()
    expect(await a.exchange.ensureLocal('0'.repeat(64))).toBeUndefined()
    expect(await a.blobs.has('0'.repeat(64))).toBe(false)
    await a.exchange.start()
    expect(a.exchange.stats()).toMatchObject({ bytesFetched: 0 })
    await a.exchange.stop()
    await a.exchange.stop()
  })

  it('a member with read fetches a blob another member announced, verified, and counts the bytes; one without read is refused', async () => {
    const roles = new Map<string, Role[]>()
    const holder = await side(roles)
    const reader = await side(roles, { bootstrap: [holder.libp2p!.getMultiaddrs()[0].toString()] })
    const outsider = await side(roles, { bootstrap: [holder.libp2p!.getMultiaddrs()[0].toString()] })
    roles.set(holder.id.id, ['read', 'build'])
    roles.set(reader.id.id, ['read'])
    roles.set(outsider.id.id, ['submit'])
    await waitFor(() => connected(reader.libp2p!, holder.libp2p!) && connected(outsider.libp2p!, holder.libp2p!), { what: 'the members to connect' })
    const bytes = randomBytes(3 * 1024 * 1024 + 17)
    const { hash } = await holder.blobs.put([bytes])
    holder.exchange.announce([hash])
    const got = await waitFor(async () => await reader.exchange.ensureLocal(hash, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined), { timeoutMs: 30_000, what: 'the fetch to succeed' })
    expect(got.bytesFetched).toBe(bytes.byteLength)
    expect(got.byHolder[holder.id.id]).toBe(bytes.byteLength)
    expect(Buffer.compare(await collect(reader.blobs.get(hash)), bytes)).toBe(0)
    expect(reader.exchange.stats()).toMatchObject({ bytesFetched: bytes.byteLength })
    // already local now: nothing more moves
    expect(await reader.exchange.ensureLocal(hash)).toBeUndefined()
    // a member without read is refused by the holder: nothing stored, the refusal counted there
    await expect(outsider.exchange.ensureLocal(hash, { holders: [holder.id.id], signal: AbortSignal.timeout(10_000) }))
      .rejects.toMatchObject({ code: 'ERR_NO_HOLDERS', message: expect.stringContaining('ERR_NOT_ALLOWED') })
    expect(await outsider.blobs.has(hash)).toBe(false)
  })

  it('a fresh result is fetched from the executor its signed result names, before any provider record went out; the copy is announced and found through the DHT once the executor is gone', async () => {
    const roles = new Map<string, Role[]>()
    // the executor's records wait for a quiet spell that does not come in this test: no fetch may need them
    const executor = await side(roles, { providers: { quietMs: 3_600_000, batchMaxWaitMs: 3_600_000 } })
    const first = executor.libp2p!.getMultiaddrs()[0].toString()
    const reader = await side(roles, { bootstrap: [first], providers: { quietMs: 50 } })
    const third = await side(roles, { bootstrap: [first, reader.libp2p!.getMultiaddrs()[0].toString()] })
    for (const s of [executor, reader, third]) roles.set(s.id.id, ['read', 'build'])
    await waitFor(() => connected(reader.libp2p!, executor.libp2p!) && connected(third.libp2p!, reader.libp2p!), { what: 'the members to connect' })
    // the job's signed records reach the others, as gossip brings them
    const relayed: Array<Promise<boolean>> = []
    executor.jobs.on('signed', (s: Signed<unknown>) => {
      for (const o of [reader, third]) {
        relayed.push(s.type === 'job' ? o.jobs.ingestAnnouncement(s as Signed<JobAnnouncement>) : o.jobs.ingestEvent(s as Signed<JobEvent>))
      }
    })
    const bytes = randomBytes(2 * 1024 * 1024 + 3)
    const { hash: log } = await executor.blobs.put([bytes])
    const row = await executor.jobs.submit({ spec, params: {} })
    await executor.jobs.transition(row.id, 'started', { state: 'running', epoch: 1 })
    const result: JobResult = { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log, artefacts: [] }
    await executor.jobs.transition(row.id, 'finished', { state: 'succeeded', result, epoch: 1 })
    // what the node does with its own result's blobs
    executor.exchange.announceLater([log])
    await Promise.all(relayed)
    const got = await reader.exchange.ensureLocal(log, { signal: AbortSignal.timeout(10_000) })
    expect(got).toMatchObject({ foundBy: 'result', byHolder: { [executor.id.id]: bytes.byteLength } })
    expect(executor.exchange.stats().providers).toMatchObject({ provides: 0, pending: 1 })
    // the reader holds a copy now, and announces it with its next batch
    await waitFor(() => (reader.exchange.stats().providers as { provides: number, pending: number }).pending === 0, { what: 'the reader to announce its copy' })
    expect(reader.exchange.stats().providers).toMatchObject({ provides: 1 })
    await executor.close()
    await executor.libp2p!.stop()
    const later = await third.exchange.ensureLocal(log, { signal: AbortSignal.timeout(20_000) })
    expect(later).toMatchObject({ foundBy: 'dht', byHolder: { [reader.id.id]: bytes.byteLength } })
    expect(Buffer.compare(await collect(third.blobs.get(log)), bytes)).toBe(0)
  })

  it('a restarted node still fetches a recent result from its executor before any provider record went out: the stored results are read at start', async () => {
    const roles = new Map<string, Role[]>()
    const executor = await side(roles, { providers: { quietMs: 3_600_000, batchMaxWaitMs: 3_600_000 } })
    const reader = await side(roles, { bootstrap: [executor.libp2p!.getMultiaddrs()[0].toString()] })
    for (const s of [executor, reader]) roles.set(s.id.id, ['read', 'build'])
    await waitFor(() => connected(reader.libp2p!, executor.libp2p!), { what: 'the members to connect' })
    const relayed: Array<Promise<boolean>> = []
    executor.jobs.on('signed', (s: Signed<unknown>) => {
      relayed.push(s.type === 'job' ? reader.jobs.ingestAnnouncement(s as Signed<JobAnnouncement>) : reader.jobs.ingestEvent(s as Signed<JobEvent>))
    })
    const { hash: log } = await executor.blobs.put([randomBytes(100_000)])
    const row = await executor.jobs.submit({ spec, params: {} })
    await executor.jobs.transition(row.id, 'started', { state: 'running', epoch: 1 })
    await executor.jobs.transition(row.id, 'finished', { state: 'succeeded', result: { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log, artefacts: [] }, epoch: 1 })
    executor.exchange.announceLater([log])
    await Promise.all(relayed)
    await reader.restart()
    const got = await waitFor(async () => await reader.exchange.ensureLocal(log, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined), { what: 'the fetch' })
    expect(got).toMatchObject({ foundBy: 'result', byHolder: { [executor.id.id]: 100_000 } })
    expect(executor.exchange.stats().providers).toMatchObject({ provides: 0 })
  })

  it('attach to a job is refused with the reason when this node lacks the role, before anything is asked of the mesh', async () => {
    const roles = new Map<string, Role[]>()
    const a = await side(roles)
    roles.set(a.id.id, ['submit'])
    await expect(a.exchange.open('f'.repeat(64), 'someone-else', 'ro', {})).rejects.toMatchObject({ code: 'ERR_FORBIDDEN', message: expect.stringMatching(/^cannot attach: /) })
    await expect(a.exchange.open('f'.repeat(64), 'someone-else', 'rw', {})).rejects.toMatchObject({ code: 'ERR_FORBIDDEN', message: expect.stringMatching(/^cannot attach --rw: /) })
  })
})
