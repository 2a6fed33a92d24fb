import { encode } from 'cborg'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeCbor, encodeCbor, Identity, MAX_ENVELOPE_BYTES, open, seal } from '../../protocols/codec/index.js'
import { attach, ATTACH_PROTOCOL } from '../../protocols/attach/index.js'
import { FETCH_BULK_PROTOCOL, FETCH_PROTOCOL } from '../../protocols/fetch/index.js'
import { JOIN_PROTOCOL } from '../../protocols/join/index.js'
import { createMeshLibp2p, DHT_PROTOCOL } from '../../protocols/net/index.js'
import { encodeFrame, FrameReader, parsePage, SYNC_MAX_RESPONSE_BYTES, SYNC_PROTOCOL } from '../../protocols/sync/index.js'
import { decodeToken } from '../../protocols/trust/index.js'
import { cli, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { joinInProcess } from '../helpers/member.js'
import { report } from '../fuzz/harness.js'
import { allPeersFresh, spec, submit } from './helpers.js'
import type { InProcessMember } from '../helpers/member.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

/**
 * The message-integrity attacks of a member who tries (issue "members cannot take each other
 * over"), each mounted against real daemons by a real libp2p node holding a real member's (or
 * invite's) key: each is refused, and counted by its reason in `status --json` `dropped`.
 */
describe('intruders: forged cache hits, foreign cancels, re-encoded replays, huge epochs, invite keys, expired grants', () => {
  let mesh: TestMesh
  let admin: MeshNode, builder: MeshNode, submitter: MeshNode
  const members: InProcessMember[] = []
  const figures: Record<string, unknown> = {}

  const dropped = async (n: MeshNode): Promise<Record<string, number>> => (await mesh.api(n).status()).dropped
  /** until each reason's count grew by one, or by `atLeast[reason]` (messages sent together are judged one by one) */
  const dropsGrow = async (n: MeshNode, before: Record<string, number>, reasons: string[], atLeast: Record<string, number> = {}): Promise<Record<string, number>> =>
    await waitFor(async () => {
      const d = await dropped(n)
      return reasons.every(r => (d[r] ?? 0) - (before[r] ?? 0) >= (atLeast[r] ?? 1)) ? d : undefined
    }, { timeoutMs: 30_000, what: `${n.name} to drop ${reasons.join(', ')}` })
  const grown = (after: Record<string, number>, before: Record<string, number>, reasons: string[]): Record<string, number> =>
    Object.fromEntries(reasons.map(r => [r, (after[r] ?? 0) - (before[r] ?? 0)]))

  /** a member key in this process, connected to the admin daemon only */
  const member = async (roles: string): Promise<InProcessMember> => {
    const m = await joinInProcess(admin.home, admin, roles, { isAllowed: id => id === admin.peerId })
    members.push(m)
    return m
  }

  const subscribed = async (m: InProcessMember, topics: string[]): Promise<void> => {
    for (const t of topics) m.libp2p.services.pubsub.subscribe(t)
    await waitFor(() => topics.every(t => m.libp2p.services.pubsub.getSubscribers(t).length > 0) ? true : undefined, { what: 'the daemon to subscribe' })
  }

  /** every record the admin's log holds, pulled by sync as any member may */
  const records = async (m: InProcessMember): Promise<Uint8Array[]> => {
    const stream = await m.libp2p.dialProtocol(peerIdFromString(admin.peerId), SYNC_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    stream.send(encodeFrame(encodeCbor({ after: 0, limit: 256 })))
    const page = parsePage((await new FrameReader(stream).read(SYNC_MAX_RESPONSE_BYTES, 5000, AbortSignal.timeout(5000)))!, SYNC_MAX_RESPONSE_BYTES, { after: 0, limit: 256 })
    stream.abort(new Error('done'))
    return page.items
  }

  /** the same envelope with its map keys in the order `order` gives: valid CBOR, same meaning, other bytes */
  const reencoded = (bytes: Uint8Array, order: (a: string, b: string) => number): Uint8Array =>
    encode(decodeCbor(bytes, MAX_ENVELOPE_BYTES) as Record<string, unknown>, { mapSorter: (a: any, b: any) => order(String(a[0].value), String(b[0].value)) })

  beforeAll(async () => {
    // n0 admin; n1 may build and read but not submit; n2 may submit only
    mesh = await makeMesh(3, { roles: i => [undefined, 'build,read', 'submit'][i] })
    ;[admin, builder, submitter] = mesh.nodes
    await allPeersFresh(mesh)
  }, 180_000)

  afterAll(async () => {
    for (const m of members) await m.stop().catch(() => {})
    await mesh?.close()
    report('intruders-integrity', figures)
  })

  it('a forged cache hit, a cancel and a priority by gossip from a member that did not submit, an epoch of 2^53-1 and a re-encoded replay: each dropped by reason, the job untouched', async () => {
    const m = await member('submit,build')
    const topics = { job: `/cit/${mesh.meshId}/job/1`, event: `/cit/${mesh.meshId}/event/1` }
    await subscribed(m, Object.values(topics))
    // a job no node can take: it stays queued, the state a cache hit needs
    const id = await submit(mesh, admin, spec('name: parked\nrequires: { labels: [nowhere] }\nstages:\n  - steps:\n      - echo never\n'))
    const jobsBefore = (await mesh.api(admin).list()).length
    const announcement = (await records(m)).find(b => open(b).hash === id)
    expect(announcement).toBeDefined()
    const before = await dropped(admin)
    const ev = (extra: Record<string, unknown>): Uint8Array => seal(m.identity, 'event', { mesh: mesh.meshId, job: id, node: m.identity.id, at: Date.now(), ...extra }).bytes
    const result = { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log: 'ab'.repeat(32), artefacts: [], cacheHit: true, cachedFrom: 'cd'.repeat(32) }
    await m.libp2p.services.pubsub.publish(topics.event, ev({ type: 'finished', state: 'succeeded', epoch: 0, result }))
    await m.libp2p.services.pubsub.publish(topics.event, ev({ type: 'cancelled', state: 'cancelled', reason: 'mine now' }))
    await m.libp2p.services.pubsub.publish(topics.event, ev({ type: 'reprioritized', priority: 99 }))
    await m.libp2p.services.pubsub.publish(topics.event, ev({ type: 'started', state: 'running', epoch: Number.MAX_SAFE_INTEGER }))
    // the admin's own announcement, its fields in another order: once a second job, now refused
    await m.libp2p.services.pubsub.publish(topics.job, reencoded(announcement!, (a, b) => (a < b ? 1 : -1)))
    const reasons = ['cache-hit-not-submitter', 'not-owner', 'bad-event', 'non-canonical']
    // the cancel and the priority change are both the owner's to make
    const after = await dropsGrow(admin, before, reasons, { 'not-owner': 2 })
    expect(after['not-owner'] - (before['not-owner'] ?? 0)).toBeGreaterThanOrEqual(2)
    const job = await mesh.api(admin).show(id)
    expect([job.state, job.priority, job.cacheHit]).toEqual(['queued', 0, false])
    expect(job.events.map(e => e.type)).toEqual(['submitted'])
    expect((await mesh.api(admin).list()).length).toBe(jobsBefore)
    figures.gossip = grown(after, before, reasons)
  }, 120_000)

  it('cancel through the CLI of a job another node submitted: exit 2 with the reason, nothing recorded anywhere', async () => {
    const id = await submit(mesh, admin, spec('name: not-yours\nrequires: { labels: [nowhere] }\nstages:\n  - steps:\n      - echo never\n'))
    for (const n of [builder, submitter]) {
      await waitFor(async () => (await mesh.api(n).show(id).catch(() => undefined)) != null ? true : undefined, { what: `${n.name} to know the job` })
      const r = await cli(['cancel', id, '--json'], { home: n.home })
      expect(r.code).toBe(2)
      expect(JSON.parse(r.stderr.trim().split('\n')[0]).error.code).toBe('ERR_FORBIDDEN')
    }
    for (const n of mesh.nodes) {
      const j = await mesh.api(n).show(id)
      expect(j.state).toBe('queued')
      expect(j.events.map(e => e.type)).toEqual(['submitted'])
    }
    await mesh.run(admin, ['cancel', id])
    figures.cliCancel = { exit: 2, code: 'ERR_FORBIDDEN' }
  }, 120_000)

  it('a flood of re-encoded copies of valid grants fills nothing; the revocation after it takes effect everywhere', async () => {
    const m = await member('read')
    const topic = `/cit/${mesh.meshId}/trust/1`
    await subscribed(m, [topic])
    const grants = (await records(m)).filter(b => open(b).type === 'grant')
    expect(grants.length).toBeGreaterThan(0)
    const membersBefore = (await mesh.api(admin).trustList()).members.length
    const before = await dropped(admin)
    // 20 distinct re-encodings: the envelope's five keys in orders other than the canonical one
    const perms = (xs: string[]): string[][] => xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map(rest => [x, ...rest]))
    const orders = perms(['v', 't', 'p', 'k', 's']).map(perm => (a: string, b: string) => perm.indexOf(a) - perm.indexOf(b))
    const flood = new Map<string, Uint8Array>()
    for (const g of grants) for (const o of orders) { const b = reencoded(g, o); flood.set(Buffer.from(b).toString('hex'), b) }
    const copies = [...flood.values()].filter(b => !grants.some(g => Buffer.from(g).equals(b))).slice(0, 20)
    for (const b of copies) await m.libp2p.services.pubsub.publish(topic, b).catch(() => {})
    expect(copies.length).toBe(20)
    const after = await waitFor(async () => { const d = await dropped(admin); return (d['non-canonical'] ?? 0) - (before['non-canonical'] ?? 0) >= 20 ? d : undefined }, { timeoutMs: 30_000, what: 'the 20 copies to be dropped as non-canonical' })
    expect((await mesh.api(admin).trustList()).members.length).toBe(membersBefore)
    await mesh.run(admin, ['trust', 'revoke', m.identity.id])
    for (const n of mesh.nodes) {
      await waitFor(async () => !(await mesh.api(n).trustList()).members.some(x => x.keyId === m.identity.id) ? true : undefined, { timeoutMs: 30_000, what: `${n.name} to drop the revoked key` })
    }
    await waitFor(() => m.libp2p.getConnections().every(c => c.status !== 'open') ? true : undefined, { timeoutMs: 30_000, what: 'the revoked key to be cut off' })
    figures.grantFlood = { sent: copies.length, ...grown(after, before, ['non-canonical']) }
  }, 120_000)

  it('an invite key opens the join protocol and nothing else: gossip, DHT, sync, fetch, bulk fetch and attach streams are refused and counted', async () => {
    const { token } = await mesh.run(admin, ['invite', '--role', 'read'])
    const key = Identity.fromBytes(decodeToken(token).inviteKey)
    const node = await createMeshLibp2p({ privateKey: key.privateKey, listen: [], bootstrap: [], isAllowed: () => true })
    try {
      const addr = multiaddr(`/ip4/127.0.0.1/tcp/${admin.port}/p2p/${admin.peerId}`)
      await node.dial(addr, { signal: AbortSignal.timeout(5000) })
      const before = await dropped(admin)
      const tried: Record<string, string> = {}
      for (const protocol of ['/meshsub/1.1.0', DHT_PROTOCOL, SYNC_PROTOCOL, FETCH_PROTOCOL, FETCH_BULK_PROTOCOL, ATTACH_PROTOCOL]) {
        tried[protocol] = await (async () => {
          const s = await node.dialProtocol(addr, protocol, { signal: AbortSignal.timeout(5000) })
          if (protocol === SYNC_PROTOCOL) s.send(encodeFrame(encodeCbor({ after: 0, limit: 256 })))
          const got = await new FrameReader(s).read(SYNC_MAX_RESPONSE_BYTES, 5000, AbortSignal.timeout(5000))
          return got == null ? 'closed' : 'answered'
        })().catch((err: any) => String(err?.name ?? err?.code ?? 'refused'))
      }
      const after = await dropsGrow(admin, before, ['invite-key-stream'])
      // each refused by the guard (counted), not by the service behind it
      expect(after['invite-key-stream'] - (before['invite-key-stream'] ?? 0)).toBeGreaterThanOrEqual(6)
      expect(Object.values(tried)).not.toContain('answered')
      // the one protocol it may speak still opens
      const j = await node.dialProtocol(addr, JOIN_PROTOCOL, { signal: AbortSignal.timeout(5000) })
      j.abort(new Error('done'))
      figures.inviteKey = { tried, ...grown(after, before, ['invite-key-stream']) }
    } finally {
      await node.stop()
    }
  }, 60_000)

  it('a grant that expires ends the open attach session it allowed, at its expiry, counted as attach-not-allowed', async () => {
    const m = await member('submit')
    await mesh.run(admin, ['trust', 'grant', m.identity.id, 'read', '--expires', '15s'])
    await waitFor(async () => (await mesh.api(admin).trustList()).members.find(x => x.keyId === m.identity.id)?.roles.includes('read') === true ? true : undefined, { what: 'the read grant' })
    await mesh.api(builder).setState('paused')
    try {
      const id = await submit(mesh, admin, spec('name: watched\ntimeout: 2m\nstages:\n  - steps:\n      - while true; do echo tick; sleep 0.3; done\n'))
      await waitFor(async () => (await mesh.api(admin).show(id)).state === 'running' ? true : undefined, { timeoutMs: 30_000, what: 'the watched job to run' })
      const session = await attach(m.libp2p, admin.peerId, id, 'ro')
      const before = await dropped(admin)
      let frames = 0
      const ended = (async () => {
        try {
          for await (const _ of session.output) frames++
          return 'ended'
        } catch (err: any) {
          return String(err?.code ?? err?.name ?? 'error')
        }
      })()
      let ending: string | undefined
      void ended.then(h => { ending = h })
      const how = await waitFor(() => ending, { timeoutMs: 60_000, what: 'the session to end at the grant\'s expiry' })
      const after = await dropsGrow(admin, before, ['attach-not-allowed'])
      expect(frames).toBeGreaterThan(0)
      expect(how).not.toBe('ended')
      expect((await mesh.api(admin).show(id)).state).toBe('running')
      // and a new session is refused
      const again = await attach(m.libp2p, admin.peerId, id, 'ro').then(async s => { await s.detach(); return 'opened' }, (e: any) => String(e?.code))
      expect(again).toBe('ERR_NOT_ALLOWED')
      await mesh.api(admin).cancel(id)
      figures.expiredGrant = { sessionEnded: how, ...grown(after, before, ['attach-not-allowed']) }
    } finally {
      await mesh.api(builder).setState('active')
    }
  }, 120_000)
})
