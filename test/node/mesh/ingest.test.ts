import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { decodeCbor, encodeCbor, Identity, open, seal } from '../../../protocols/codec/index.js'
import { encodeBundle } from '../../../protocols/gossip/index.js'
import { createMesh, makeGrant, makeRevoke } from '../../../protocols/trust/index.js'
import { silentLogger } from '../../../store/logger.js'
import { Ingest } from '../../../node/mesh/ingest.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import type { JobService } from '../../../node/jobs/job-service.js'
import type { MeshInfo } from '../../../protocols/trust/index.js'
import type { JobServiceOnDisk } from '../../helpers/job-service.js'

const spec = { name: 'x', priority: 0, timeoutMs: 60000, requires: { labels: [], cores: 1, memoryBytes: 0 }, params: {}, supersede: 'waiting', cache: false, stages: [{ title: 's', steps: [{ title: 't', command: 'true', ignoreExitCode: false }] }], artefacts: [] }
/** the mesh every payload names (set per test) */
let meshId = ''
const announce = (id: Identity, nonce = '0011223344556677', extra: Record<string, unknown> = {}): ReturnType<typeof seal> =>
  seal(id, 'job', { spec, params: {}, priority: 0, submittedAt: Date.now(), node: id.id, nonce, mesh: meshId, ...extra })

describe('Ingest: what peers send is authorised by role before it is acted on', () => {
  let parts: JobServiceOnDisk<true>
  let admin: Identity
  let member: Identity
  let mesh: MeshInfo
  let jobs: JobService
  let ingest: Ingest

  /** the ingest over the node's parts (again after a restart) */
  function useParts (p: JobServiceOnDisk<true>): void {
    parts = p
    jobs = p.jobs
    ingest = new Ingest({ trust: p.trust, jobs, peers: p.peers, logger: silentLogger, mesh: mesh.id })
  }

  beforeEach(async () => {
    admin = await Identity.generate()
    member = await Identity.generate()
    mesh = createMesh(admin)
    meshId = mesh.id
    // as the daemon wires it: admins are who the trust state says now
    useParts(await jobServiceOnDisk({ prefix: 'cit-ingest-', identity: admin, trust: mesh, mesh: mesh.id, adminsFromTrust: true }))
  })
  afterEach(async () => { await parts.close() })

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
    // a deliberate fixed pause: the revocation must be signed at a later millisecond than the grant
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
    const fake = seal(member, 'event', { mesh: meshId, job: job.hash, type: 'finished', node: member.id, at: Date.now(), state: 'succeeded', result, epoch: 1 })
    expect(await deliver(fake.bytes, 'event')).toBe('no-build-role')
    const posing = seal(admin, 'event', { mesh: meshId, job: job.hash, type: 'claimed', node: member.id, at: Date.now(), state: 'claimed', epoch: 1 })
    expect(await deliver(posing.bytes, 'event')).toBe('no-build-role')
    expect(await deliver(job.bytes, 'event')).toBe('wrong-topic')
    const stranger = await Identity.generate()
    expect(await deliver(announce(stranger).bytes, 'job')).toBe('not-a-member')
    expect((await jobs.get(job.hash))?.state).toBe('queued')
  })

  it('load reports: replays and reports signed for another node are dropped', async () => {
    const report = { mesh: meshId, node: admin.id, at: Date.now(), seq: 2, load1: 0.1, cores: 2, memFreeBytes: 1, memTotalBytes: 2, slots: 1, slotsFree: 1, labels: [], state: 'active', running: [], addrs: [], workspaces: [], loadLimit: 2 }
    expect(await deliver(seal(admin, 'load', report).bytes, 'load')).toBeUndefined()
    // an older report of the same node passes the checks but changes nothing
    expect(await deliver(seal(admin, 'load', { ...report, seq: 1 }).bytes, 'load')).toBeUndefined()
    expect(ingest.stats().dropped.replay).toBe(1)
    expect(await deliver(seal(admin, 'load', { ...report, at: report.at - 120_000, seq: 3 }).bytes, 'load')).toBe('stale')
    await deliver(makeGrant(admin, mesh, member.publicKey, ['build']).bytes, 'trust')
    expect(await deliver(seal(member, 'load', { ...report, seq: 9 }).bytes, 'load')).toBe('load-not-own')
  })
  it('every event is authorised by what it does: cache hits, cancels and priorities from others are refused, by gossip and by sync', async () => {
    const other = await Identity.generate()
    await deliver(makeGrant(admin, mesh, member.publicKey, ['submit', 'build']).bytes, 'trust')
    await deliver(makeGrant(admin, mesh, other.publicKey, ['submit', 'build']).bytes, 'trust')
    const job = announce(member)
    await deliver(job.bytes, 'job')
    const result = { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log: 'b'.repeat(64), artefacts: [], cacheHit: true, cachedFrom: 'c'.repeat(64) }
    const ev = (by: Identity, type: string, extra: Record<string, unknown> = {}): ReturnType<typeof seal> => seal(by, 'event', { mesh: meshId, job: job.hash, type, node: by.id, at: Date.now(), ...extra })
    // a forged cache hit: another member's word that the job is done
    expect(await deliver(ev(other, 'finished', { state: 'succeeded', result, epoch: 0 }).bytes, 'event')).toBeUndefined()
    expect(ingest.stats().dropped['cache-hit-not-submitter']).toBe(1)
    // a cancel, a supersede and a new priority from a member that did not submit the job: by gossip and by sync
    await deliver(ev(other, 'cancelled', { state: 'cancelled', reason: 'mine now' }).bytes, 'event')
    await ingest.fromSync(ev(other, 'superseded', { state: 'superseded' }).bytes)
    await deliver(ev(other, 'reprioritized', { priority: 99 }).bytes, 'event')
    await deliver(ev(other, 'cancel-requested').bytes, 'event')
    expect(ingest.stats().dropped['not-owner']).toBe(4)
    // an event that speaks for another node
    expect(await deliver(seal(other, 'event', { mesh: meshId, job: job.hash, type: 'cancelled', node: member.id, at: Date.now(), state: 'cancelled' }).bytes, 'event')).toBe('not-own-event')
    let row = await jobs.get(job.hash)
    expect([row?.state, row?.priority]).toEqual(['queued', 0])
    // the submitter's own cache hit, while the job is queued, is its to make; then nothing replaces it
    await deliver(ev(member, 'finished', { state: 'succeeded', result, epoch: 0 }).bytes, 'event')
    row = await jobs.get(job.hash)
    expect([row?.state, row?.cacheHit]).toEqual(['succeeded', true])
    await deliver(ev(member, 'finished', { state: 'succeeded', result: { ...result, log: 'd'.repeat(64) }, epoch: 0 }).bytes, 'event')
    expect(ingest.stats().dropped['cache-hit-not-queued']).toBe(1)
    expect((await jobs.get(job.hash))?.log).toBe('b'.repeat(64))
    // an admin may cancel anyone's job
    const second = announce(member, '8899aabbccddeeff')
    await deliver(second.bytes, 'job')
    await deliver(seal(admin, 'event', { mesh: meshId, job: second.hash, type: 'cancelled', node: admin.id, at: Date.now(), state: 'cancelled' }).bytes, 'event')
    expect((await jobs.get(second.hash))?.state).toBe('cancelled')
  })

  it('a bundle: an announcement and its signer\'s events, each checked as if it came alone; one bad record refuses it all', async () => {
    const other = await Identity.generate()
    await deliver(makeGrant(admin, mesh, member.publicKey, ['submit']).bytes, 'trust')
    await deliver(makeGrant(admin, mesh, other.publicKey, ['submit']).bytes, 'trust')
    const result = { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log: 'b'.repeat(64), artefacts: [], cacheHit: true, cachedFrom: 'c'.repeat(64) }
    const hit = (by: Identity, nonce: string): Array<ReturnType<typeof seal>> => {
      const job = announce(by, nonce, { runOn: by.id })
      const at = Date.now()
      return [
        job,
        seal(by, 'event', { mesh: meshId, job: job.hash, type: 'submitted', node: by.id, at, state: 'queued' }),
        seal(by, 'event', { mesh: meshId, job: job.hash, type: 'finished', node: by.id, at: at + 1, state: 'succeeded', result, epoch: 0 })
      ]
    }
    const bundle = async (records: Uint8Array[]): Promise<string | undefined> => {
      const v = ingest.checkBundle(encodeBundle(records))
      if (!v.ok) return v.reason
      await ingest.apply(v.value)
      return undefined
    }
    const refused = async (records: Uint8Array[], reason: string): Promise<void> => {
      expect(await bundle(records)).toBe(reason)
      expect(await jobs.get(String(open(records[0]).hash))).toBeUndefined()
    }
    const good = hit(member, '0000000000000001')
    expect(await bundle(good.map(r => r.bytes))).toBeUndefined()
    const row = await jobs.get(good[0].hash)
    expect([row?.state, row?.cacheHit]).toEqual(['succeeded', true])
    expect((await jobs.store.events(good[0].hash)).map(e => e.type)).toEqual(['submitted', 'finished'])
    // again: the same records are duplicates and change nothing
    expect(await bundle(good.map(r => r.bytes))).toBeUndefined()
    expect(ingest.stats().dropped.duplicate).toBe(3)

    const [job, submitted, finished] = hit(member, '0000000000000002')
    // a record whose signature does not hold
    const env = decodeCbor(finished.bytes, 1 << 20) as { s: Uint8Array }
    const s = Uint8Array.from(env.s)
    s[0] ^= 1
    const forged = encodeCbor({ ...env, s })
    await refused([job.bytes, submitted.bytes, forged], 'bad-signature')
    // an event of another job, by another signer, twice, or an event first
    const elsewhere = hit(member, '0000000000000003')
    await refused([job.bytes, elsewhere[1].bytes], 'bad-bundle')
    const theirs = seal(other, 'event', { mesh: meshId, job: job.hash, type: 'reprioritized', node: other.id, at: Date.now(), priority: 3 })
    await refused([job.bytes, theirs.bytes], 'bad-bundle')
    await refused([job.bytes, submitted.bytes, submitted.bytes], 'bad-bundle')
    expect(await bundle([submitted.bytes, job.bytes])).toBe('wrong-topic')
    // a record a lone message would be refused for: a member without submit, another mesh
    const stranger = await Identity.generate()
    await refused(hit(stranger, '0000000000000004').map(r => r.bytes), 'not-a-member')
    // not a bundle: one record, nine, bytes that are no array of byte strings, a longer encoding
    expect(ingest.checkBundle(encode([job.bytes]))).toMatchObject({ ok: false, reason: 'bad-bundle' })
    expect(ingest.checkBundle(encode(Array.from({ length: 9 }, () => job.bytes)))).toMatchObject({ ok: false, reason: 'bad-bundle' })
    expect(ingest.checkBundle(encode({ a: job.bytes }))).toMatchObject({ ok: false, reason: 'bad-bundle' })
    expect(ingest.checkBundle(encode([job.bytes, 7]))).toMatchObject({ ok: false, reason: 'bad-bundle' })
    const long = encodeBundle([job.bytes, submitted.bytes])
    const padded = new Uint8Array([0x98, 0x02, ...long.subarray(1)])
    expect(ingest.checkBundle(padded)).toMatchObject({ ok: false, reason: 'bad-bundle' })
    expect(await jobs.get(job.hash)).toBeUndefined()
    // the same records one by one are still taken
    for (const [r, kind] of [[job, 'job'], [submitted, 'event'], [finished, 'event']] as const) expect(await deliver(r.bytes, kind)).toBeUndefined()
    expect((await jobs.get(job.hash))?.state).toBe('succeeded')
  })

  it('events of a job not seen yet are held, not stored, and judged once it arrives', async () => {
    const other = await Identity.generate()
    await deliver(makeGrant(admin, mesh, member.publicKey, ['submit']).bytes, 'trust')
    await deliver(makeGrant(admin, mesh, other.publicKey, ['submit']).bytes, 'trust')
    const job = announce(member)
    const foreign = seal(other, 'event', { mesh: meshId, job: job.hash, type: 'cancelled', node: other.id, at: Date.now(), state: 'cancelled' })
    const own = seal(member, 'event', { mesh: meshId, job: job.hash, type: 'reprioritized', node: member.id, at: Date.now(), priority: 7 })
    await deliver(foreign.bytes, 'event')
    await deliver(own.bytes, 'event')
    expect(ingest.stats()).toMatchObject({ held: 2, holding: 2 })
    expect(await jobs.store.hasRecord(foreign.hash)).toBe(false)
    await deliver(job.bytes, 'job')
    const row = await jobs.get(job.hash)
    expect([row?.state, row?.priority]).toEqual(['queued', 7])
    expect(ingest.stats().dropped['not-owner']).toBe(1)
    expect(ingest.stats().holding).toBe(0)
    expect(await jobs.store.hasRecord(foreign.hash)).toBe(false)
  })
  it('one byte string per message: a re-encoded replay, a record of another mesh, an announcement out of its window are dropped by reason', async () => {
    await deliver(makeGrant(admin, mesh, member.publicKey, ['submit']).bytes, 'trust')
    const job = announce(member)
    expect(await deliver(job.bytes, 'job')).toBeUndefined()
    // the same envelope with its fields in another order: once a new job id, now refused before anything else
    const env = decodeCbor(job.bytes, 1 << 20) as Record<string, unknown>
    const reordered = encode(env, { mapSorter: (a: any, b: any) => (a[0].value < b[0].value ? 1 : -1) })
    expect(await deliver(reordered, 'job')).toBe('non-canonical')
    await ingest.fromSync(reordered)
    expect(ingest.stats().dropped['non-canonical']).toBe(2)
    // the same content signed again is the same id (ids come from the signed content): a duplicate
    await deliver(seal(member, 'job', open(job.bytes).payload).bytes, 'job')
    expect(ingest.stats().dropped.duplicate).toBe(1)
    // a job of another mesh the same key belongs to
    expect(await deliver(announce(member, '1111222233334444', { mesh: 'e'.repeat(64) }).bytes, 'job')).toBe('wrong-mesh')
    expect(await deliver(announce(member, '1111222233334445', { mesh: undefined }).bytes, 'job')).toBe('wrong-mesh')
    // signed too far ahead (any path); signed long ago (gossip only: history comes by sync)
    expect(await deliver(announce(member, '5555666677778888', { submittedAt: Date.now() + 3_600_000 }).bytes, 'job')).toBe('from-the-future')
    const old = announce(member, '9999aaaabbbbcccc', { submittedAt: Date.now() - 3_600_000 })
    const live = ingest.check(old.bytes, 'job', { live: true })
    expect(live.ok ? undefined : live.reason).toBe('stale')
    await ingest.fromSync(old.bytes)
    expect(await jobs.get(old.hash)).toBeDefined()
    let count = 0
    for await (const _ of jobs.store.list()) count++
    expect(count).toBe(2)
  })
  it('a replayed id is dropped after a restart too: the record it names is kept in the store', async () => {
    await deliver(makeGrant(admin, mesh, member.publicKey, ['submit', 'build']).bytes, 'trust')
    const job = announce(member)
    const ev = seal(member, 'event', { mesh: meshId, job: job.hash, type: 'reprioritized', node: member.id, at: Date.now(), priority: 3 })
    await deliver(job.bytes, 'job')
    await deliver(ev.bytes, 'event')
    useParts(await parts.reopen())
    expect(await deliver(job.bytes, 'job')).toBeUndefined()
    expect(await deliver(ev.bytes, 'event')).toBeUndefined()
    expect(ingest.stats().dropped.duplicate).toBe(2)
    expect(ingest.stats().accepted).toBe(0)
    expect((await jobs.get(job.hash))?.priority).toBe(3)
  })
})
