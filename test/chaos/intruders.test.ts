import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeCbor, encodeCbor, Identity, open, seal } from '../../protocols/codec/index.js'
import { attach } from '../../protocols/attach/index.js'
import { fetchRange } from '../../protocols/fetch/index.js'
import { LeaseLinks, LeaseRpc } from '../../protocols/lease/index.js'
import type { RequestBody } from '../../protocols/lease/rpc.js'
import { createMeshLibp2p } from '../../protocols/net/index.js'
import { encodeFrame, FrameReader, parsePage, SYNC_MAX_RESPONSE_BYTES, SYNC_PROTOCOL, SyncService } from '../../protocols/sync/index.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { cli, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { joinInProcess } from '../helpers/member.js'
import { report } from '../fuzz/harness.js'
import { allPeersFresh, spec, submit } from './helpers.js'
import type { InProcessMember } from '../helpers/member.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

/** the drop counters of a node */
async function dropped (mesh: TestMesh, n: MeshNode): Promise<Record<string, number>> {
  return (await mesh.api(n).status()).dropped
}

/** wait until node `n` has counted one more drop of each of `reasons` than in `before` */
async function dropsGrow (mesh: TestMesh, n: MeshNode, before: Record<string, number>, reasons: string[]): Promise<Record<string, number>> {
  return await waitFor(async () => {
    const d = await dropped(mesh, n)
    return reasons.every(r => (d[r] ?? 0) > (before[r] ?? 0)) ? d : undefined
  }, { timeoutMs: 20_000, what: `${n.name} to drop ${reasons.join(', ')}` })
}

describe('intruders: who cannot connect, submit, read, forge, replay or keep a revoked key', () => {
  let mesh: TestMesh
  let admin: MeshNode, peer: MeshNode, builder: MeshNode, submitter: MeshNode
  const members: InProcessMember[] = []
  const figures: Record<string, unknown> = {}

  beforeAll(async () => {
    // n0 admin; n1 the default roles; n2 may build and read but not submit; n3 may submit only
    mesh = await makeMesh(4, { roles: i => [undefined, undefined, 'build,read', 'submit'][i] })
    ;[admin, peer, builder, submitter] = mesh.nodes
    await allPeersFresh(mesh)
  }, 180_000)

  afterAll(async () => {
    for (const m of members) await m.stop().catch(() => {})
    await mesh?.close()
    report('intruders', figures)
  })

  const member = async (roles: string): Promise<InProcessMember> => {
    // it talks to the daemons that keep their keys (not to other in-process members, nor to the node
    // whose key the last test revokes): that node's connections are then its mesh's alone
    const m = await joinInProcess(admin.home, admin, roles, { isAllowed: id => [admin, peer, builder].some(n => n.peerId === id) })
    members.push(m)
    return m
  }

  it('a machine without membership is cut off right after the handshake: no protocol, no gossip', async () => {
    const outsider = await createMeshLibp2p({ privateKey: (await Identity.generate()).privateKey, listen: [], bootstrap: [], isAllowed: () => true })
    try {
      const addr = multiaddr(`/ip4/127.0.0.1/tcp/${admin.port}/p2p/${admin.peerId}`)
      await outsider.dial(addr, { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
      await waitFor(() => outsider.getConnections().every(c => c.status !== 'open'), { what: 'the outsider to be cut off' })
      const tried: Record<string, string> = {}
      for (const protocol of [SYNC_PROTOCOL, '/cit/fetch/1.0.0', '/cit/attach/1.0.0']) {
        tried[protocol] = await outsider.dialProtocol(addr, protocol, { signal: AbortSignal.timeout(5000) }).then(() => 'opened', (err: any) => String(err?.name ?? err?.code ?? err?.type ?? 'refused'))
      }
      expect(Object.values(tried).every(r => r !== 'opened')).toBe(true)
      expect((await mesh.api(admin).peers()).map(p => p.peerId)).not.toContain(outsider.peerId.toString())
      figures.outsider = tried
    } finally {
      await outsider.stop()
    }
  })

  it('a member without submit cannot get a job run: its daemon refuses, and an announcement it publishes anyway is dropped where it lands and reaches no job list', async () => {
    const file = `${builder.home}/sneaky.yaml`
    await (await import('node:fs/promises')).writeFile(file, 'name: sneaky\nstages:\n  - steps:\n      - echo should never run\n')
    const r = await cli(['submit', file, '--json'], { home: builder.home })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('submit role')

    // the same key's powers from a process that ignores its own daemon's rules
    // no build role: a builder key that runs no daemon would be a silent acceptor of later jobs
    const m = await member('read')
    const topic = `/cit/${mesh.meshId}/job/1`
    m.libp2p.services.pubsub.subscribe(topic)
    await waitFor(() => m.libp2p.services.pubsub.getSubscribers(topic).length > 0, { what: 'a subscriber' })
    const before = await Promise.all(mesh.nodes.map(async n => await dropped(mesh, n)))
    const ann = seal(m.identity, 'job', { mesh: mesh.meshId, spec: spec('name: sneaky\nstages:\n  - steps:\n      - echo pwned\n'), params: {}, priority: 0, submittedAt: Date.now(), node: m.identity.id, nonce: '0123456789abcdef' })
    await m.libp2p.services.pubsub.publish(topic, ann.bytes)
    // the first member drops it; gossip validation stops it there, so the others never see it
    await dropsGrow(mesh, admin, before[0], ['no-submit-role'])
    for (const n of mesh.nodes) expect((await mesh.api(n).list()).map(j => j.name)).not.toContain('sneaky')
    figures.noSubmit = { cliExit: r.code, droppedOnAdmin: (await dropped(mesh, admin))['no-submit-role'] }
  })

  it('a member without read can neither fetch a blob nor attach to a job, by the CLI or by the protocols', async () => {
    for (const n of [peer, builder, submitter]) await mesh.api(n).setState('paused')
    try {
      const logOf = (await mesh.run(admin, ['submit', await jobFile(admin, 'readable', 'echo secret output'), '--wait'])).log
      const long = await submit(mesh, admin, spec('name: watched\ntimeout: 2m\nstages:\n  - steps:\n      - while true; do echo tick; sleep 0.3; done\n'))
      await waitFor(async () => (await mesh.api(admin).show(long)).state === 'running' ? true : undefined, { what: 'the watched job to run' })

      // through the submit-only node's daemon and CLI
      const f = await cli(['fetch', logOf, '-o', `${submitter.home}/stolen.cast`, '--json'], { home: submitter.home, timeoutMs: 60_000 })
      expect(f.code).not.toBe(0)
      expect(f.stderr).toMatch(/not allowed|ERR_NOT_ALLOWED|no holder|could not/i)

      // and by the protocols, from a key with submit only
      const m = await member('submit')
      const fetchErr = await fetchRange(m.libp2p, admin.peerId, logOf, 0, undefined, () => {}).then(() => undefined, (e: any) => e)
      expect(fetchErr?.remoteCode).toBe('ERR_NOT_ALLOWED')
      const attachErr = await attach(m.libp2p, admin.peerId, long, 'ro').then(async s => { await s.detach(); return undefined }, (e: any) => e)
      expect(attachErr?.code).toBe('ERR_NOT_ALLOWED')
      // a key with read gets both
      const reader = await member('read')
      let bytes = 0
      await fetchRange(reader.libp2p, admin.peerId, logOf, 0, undefined, c => { bytes += c.byteLength })
      expect(bytes).toBeGreaterThan(0)
      const session = await attach(reader.libp2p, admin.peerId, long, 'ro')
      await session.detach()
      await mesh.api(admin).cancel(long)
      figures.noRead = { cliFetchExit: f.code, cliFetchError: f.stderr.trim().slice(0, 160), fetch: fetchErr?.remoteCode, attach: attachErr?.code }
    } finally {
      for (const n of [peer, builder, submitter]) await mesh.api(n).setState('active')
    }
  }, 120_000)

  it('a forged signature and a replayed announcement or event are dropped; the replay changes nothing', async () => {
    const m = await member('submit,read')
    const topics = { job: `/cit/${mesh.meshId}/job/1`, event: `/cit/${mesh.meshId}/event/1` }
    for (const t of Object.values(topics)) m.libp2p.services.pubsub.subscribe(t)
    await waitFor(() => Object.values(topics).every(t => m.libp2p.services.pubsub.getSubscribers(t).length > 0), { what: 'subscribers' })
    const done = await mesh.run(admin, ['submit', await jobFile(admin, 'replayed', 'echo once'), '--wait'])
    // the announcement and its events as the mesh stored them: pull them by sync like any member
    const stream = await m.libp2p.dialProtocol(peerIdFromString(admin.peerId), SYNC_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    stream.send(encodeFrame(encodeCbor({ after: 0, limit: 256 })))
    const page = parsePage((await new FrameReader(stream).read(SYNC_MAX_RESPONSE_BYTES, 5000, AbortSignal.timeout(5000)))!, SYNC_MAX_RESPONSE_BYTES, { after: 0, limit: 256 })
    stream.abort(new Error('done'))
    const announcement = page.items.find(b => { try { return open(b).hash === done.id } catch { return false } })!
    const finished = page.items.find(b => { try { const s = open(b); return s.type === 'event' && (s.payload as any).job === done.id && (s.payload as any).type === 'finished' } catch { return false } })!
    expect(announcement).toBeDefined()
    expect(finished).toBeDefined()

    const before = await dropped(mesh, admin)
    const jobsBefore = (await mesh.api(admin).list()).length
    await m.libp2p.services.pubsub.publish(topics.job, announcement).catch(() => {})
    await m.libp2p.services.pubsub.publish(topics.event, finished).catch(() => {})
    // the same job, its signature broken: a forged one
    const env = decodeCbor(seal(m.identity, 'job', { ...(open(announcement).payload as object), nonce: 'feedfacefeedface', node: m.identity.id }).bytes, 1 << 20) as Record<string, Uint8Array>
    env.s = new Uint8Array(env.s)
    env.s[10] ^= 0x01
    await m.libp2p.services.pubsub.publish(topics.job, encodeCbor(env))
    // and an event for that job signed by a key that pretends to be its executor
    const posing = seal(m.identity, 'event', { mesh: mesh.meshId, job: done.id, type: 'finished', node: done.executor, at: Date.now(), state: 'failed', epoch: 99, result: { state: 'failed', exitCode: 1, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log: 'e'.repeat(64), artefacts: [] } })
    await m.libp2p.services.pubsub.publish(topics.event, posing.bytes)
    // gossip drops a message it has seen before by its id, before the node's own checks: replay
    // them where gossip's memory does not reach, in the member's own log, which the daemon pulls
    // by sync when the member connects again
    const replayLog = { logId: 'replayer', readAfter: async (after: number, limit: number) => ({ items: [announcement, finished].map((bytes, i) => ({ seq: i + 1, bytes })).filter(x => x.seq > after).slice(0, limit), lastSeq: 2 }) }
    const replayer = new SyncService({ libp2p: m.libp2p, log: replayLog, ingest: async () => {}, marks: { get: async () => undefined, set: async () => {} }, isAllowed: () => true }, { syncOnConnect: false })
    await replayer.start()
    try {
      await m.libp2p.hangUp(peerIdFromString(admin.peerId))
      await waitFor(async () => { await m.libp2p.dial(multiaddr(m.addr), { signal: AbortSignal.timeout(3000) }).catch(() => {}); return m.libp2p.getConnections(peerIdFromString(admin.peerId)).some(c => c.status === 'open') ? true : undefined }, { what: 'the member to reconnect' })
      await dropsGrow(mesh, admin, before, ['duplicate'])
    } finally {
      await replayer.stop()
    }
    const after = await dropsGrow(mesh, admin, before, ['bad-signature', 'no-build-role'])
    expect((await mesh.api(admin).list()).length).toBe(jobsBefore)
    const shown = await mesh.api(admin).show(done.id)
    expect(shown.state).toBe('succeeded')
    expect(shown.executor).toBe(done.executor)
    expect(shown.events.map(e => e.type)).toEqual(done.events.map((e: any) => e.type))
    figures.forgedAndReplayed = { dropped: Object.fromEntries(['bad-signature', 'no-build-role', 'duplicate'].map(k => [k, (after[k] ?? 0) - (before[k] ?? 0)])) }
  }, 60_000)

  it('lease attacks: a claim past the epoch, on a held lease, without build, for an unknown job; a forged lease and a result without quorum: refused and counted, the holder keeps its job', async () => {
    const m = await member('submit,build')
    const stranger = await member('submit')
    // a job one of whose acceptors is the admin node, which the in-process members talk to
    let id = ''
    let running: any
    for (let i = 0; i < 10 && running == null; i++) {
      id = await submit(mesh, admin, spec(`name: leased-${i}\nstages:\n  - steps:\n      - sleep 8; echo kept\n`))
      const j = await waitFor(async () => { const v = await mesh.api(admin).show(id); return v.state === 'running' ? v : undefined }, { what: 'the leased job to run' })
      if (j.acceptors?.includes(admin.peerId) === true) running = j
    }
    expect(running).toBeDefined()
    const say = async (who: InProcessMember, body: RequestBody): Promise<string> => {
      const links = new LeaseLinks({ libp2p: who.libp2p, isAllowed: () => true })
      const rpc = new LeaseRpc({ identity: who.identity, mesh: mesh.meshId, transport: links })
      await links.start(who.identity.id)
      rpc.start(async () => { throw new Error('not serving') })
      try {
        const r = await rpc.request(admin.peerId, body, { timeoutMs: 5000 })
        return r.type === 'lease-grant' ? 'granted' : String((r.payload as any).reason)
      } finally {
        rpc.stop()
        await links.stop()
      }
    }
    const before = ((await mesh.api(admin).status()).messages as any).lease.acceptor.refused
    const epoch = running.events.filter((e: any) => e.type === 'started').length
    const outcomes: Record<string, string> = {}
    outcomes['past the epoch'] = await say(m, { op: 'claim', job: id, epoch: epoch + 5, ttl: 15_000 })
    outcomes['the held epoch'] = await say(m, { op: 'claim', job: id, epoch, ttl: 15_000 })
    outcomes['the next epoch while held'] = await say(m, { op: 'claim', job: id, epoch: epoch + 1, ttl: 15_000 })
    outcomes['without build'] = await say(stranger, { op: 'claim', job: id, epoch: epoch + 1, ttl: 15_000 })
    outcomes['an unknown job'] = await say(m, { op: 'claim', job: 'cd'.repeat(32), epoch: 1, ttl: 15_000 })
    outcomes['a finish it does not hold'] = await say(m, { op: 'finish', job: id, epoch, holder: m.identity.id, outcome: 'ab'.repeat(32) })
    expect(outcomes).toEqual({
      'past the epoch': 'bad-epoch',
      'the held epoch': 'stale',
      'the next epoch while held': 'held',
      'without build': 'not-builder',
      'an unknown job': 'unknown-job',
      'a finish it does not hold': 'not-holder'
    })
    const after = ((await mesh.api(admin).status()).messages as any).lease.acceptor.refused
    for (const reason of ['bad-epoch', 'stale', 'held', 'not-builder', 'unknown-job', 'not-holder']) expect(after[reason] ?? 0).toBeGreaterThan(before[reason] ?? 0)

    // events that claim the lease or a result with signatures of its own, not the acceptors'
    const topic = `/cit/${mesh.meshId}/event/1`
    m.libp2p.services.pubsub.subscribe(topic)
    await waitFor(() => m.libp2p.services.pubsub.getSubscribers(topic).length > 0, { what: 'a subscriber' })
    const drops = await dropped(mesh, admin)
    const fakeGrant = seal(m.identity, 'lease-grant', { mesh: mesh.meshId, at: Date.now(), re: 1, job: id, epoch: epoch + 1, holder: m.identity.id, ttl: 15_000 }).bytes
    const fakeVote = seal(m.identity, 'lease-vote', { mesh: mesh.meshId, at: Date.now(), re: 1, job: id, epoch: epoch + 1, holder: m.identity.id, outcome: 'ab'.repeat(32) }).bytes
    const result = { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log: 'ab'.repeat(32), artefacts: [] }
    await m.libp2p.services.pubsub.publish(topic, seal(m.identity, 'event', { mesh: mesh.meshId, job: id, type: 'started', node: m.identity.id, at: Date.now(), state: 'running', epoch: epoch + 1, cert: [fakeGrant] }).bytes)
    await m.libp2p.services.pubsub.publish(topic, seal(m.identity, 'event', { mesh: mesh.meshId, job: id, type: 'finished', node: m.identity.id, at: Date.now(), state: 'succeeded', epoch: epoch + 1, result, cert: [fakeVote] }).bytes)
    await m.libp2p.services.pubsub.publish(topic, seal(m.identity, 'event', { mesh: mesh.meshId, job: id, type: 'finished', node: m.identity.id, at: Date.now() + 1, state: 'succeeded', epoch: epoch + 1, result }).bytes)
    const grown = await dropsGrow(mesh, admin, drops, ['no-lease', 'no-quorum'])
    const done = await waitFor(async () => { const j = await mesh.api(admin).show(id); return j.state === 'succeeded' ? j : undefined }, { timeoutMs: 30_000, what: 'the leased job to finish' })
    expect(done.executor).toBe(running.executor)
    expect(done.log).not.toBe('ab'.repeat(32))
    expect(done.events.map(e => e.type)).not.toContain('lease-lost')
    expect(done.events.map(e => e.type)).not.toContain('requeued')
    figures.leases = { refused: outcomes, dropped: { 'no-lease': grown['no-lease'] - (drops['no-lease'] ?? 0), 'no-quorum': grown['no-quorum'] - (drops['no-quorum'] ?? 0) } }
  }, 120_000)

  it('trust revoke takes effect on every member: the key is gone everywhere, cut off, and refused', async () => {
    const m = await member('submit,build,read')
    await mesh.run(admin, ['trust', 'revoke', submitter.peerId])
    await mesh.run(admin, ['trust', 'revoke', m.identity.id])
    const t0 = Date.now()
    for (const n of [admin, peer, builder]) {
      await waitFor(async () => {
        const keys = (await mesh.api(n).trustList()).members.map(x => x.keyId)
        return !keys.includes(submitter.peerId) && !keys.includes(m.identity.id) ? true : undefined
      }, { timeoutMs: 20_000, what: `${n.name} to drop the revoked keys` })
    }
    const everywhereMs = Date.now() - t0
    await waitFor(async () => !(await mesh.api(submitter).status()).roles.includes('submit') ? true : undefined, { timeoutMs: 20_000, what: 'the revoked node to learn of it' })
    const r = await cli(['submit', await jobFile(submitter, 'after-revoke', 'echo no'), '--json'], { home: submitter.home })
    expect(r.code).toBe(2)
    // the members close the revoked keys' connections and refuse new ones
    await waitFor(() => m.libp2p.getConnections().every(c => c.status !== 'open') ? true : undefined, { timeoutMs: 20_000, what: 'the revoked member to be cut off' })
    await m.libp2p.dial(multiaddr(m.addr), { signal: AbortSignal.timeout(3000) }).catch(() => {})
    await waitFor(() => m.libp2p.getConnections().every(c => c.status !== 'open') ? true : undefined, { timeoutMs: 10_000, what: 'a redial to be refused' })
    await waitFor(async () => (await mesh.api(submitter).status()).connected === 0 ? true : undefined, { timeoutMs: 20_000, what: 'the revoked daemon to be cut off' })
    for (const n of [admin, peer, builder]) expect((await mesh.api(n).list()).map(j => j.name)).not.toContain('after-revoke')
    figures.revoke = { everywhereMs, submitExit: r.code }
  }, 60_000)
})

async function jobFile (n: MeshNode, name: string, command: string): Promise<string> {
  const path = `${n.home}/${name}.yaml`
  await (await import('node:fs/promises')).writeFile(path, `name: ${name}\nstages:\n  - steps:\n      - ${command}\n`)
  return path
}
