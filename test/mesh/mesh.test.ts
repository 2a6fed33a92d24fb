import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { cli, freePort, json, killAllDaemons, startDaemon, tempHome, waitFor } from '../helpers/cli.js'
import { createMeshLibp2p } from '../../protocols/net/index.js'
import { Identity, decodeCbor, encodeCbor, seal } from '../../protocols/codec/index.js'
import { joinMeshHome } from '../../node/mesh/enroll.js'
import { homePaths, loadOrCreateIdentity } from '../../node/home.js'
import { LOAD_SILENT_AFTER_MS } from '../../protocols/load/index.js'
import type { Daemon } from '../helpers/cli.js'

interface Node { name: string, home: string, port: number, peerId: string, daemon?: Daemon }

describe('the mesh: three daemons on 127.0.0.1', () => {
  const temps: Array<{ cleanup: () => Promise<void> }> = []
  const nodes: Node[] = []
  let meshId = ''
  const [a, b, c] = [0, 1, 2].map(() => ({}) as Node)

  const make = async (name: string): Promise<Node> => {
    const t = await tempHome(`cit-${name}-`)
    temps.push(t)
    const n = { name, home: t.dir, port: await freePort(), peerId: '' }
    // this machine runs many daemons at once: its load average says nothing about these nodes
    await writeFile(join(t.dir, 'config.json'), JSON.stringify({ loadLimit: 1000 }))
    nodes.push(n)
    return n
  }
  const run = async (n: Node, args: string[]): Promise<any> => json(await cli([...args, '--json'], { home: n.home }))
  const jobIds = async (n: Node): Promise<string[]> => (await run(n, ['jobs'])).map((j: any) => j.id)

  beforeAll(async () => {
    Object.assign(a, await make('a'))
    Object.assign(b, await make('b'))
    Object.assign(c, await make('c'))
    const init = await run(a, ['init', '--listen', `/ip4/127.0.0.1/tcp/${a.port}`])
    a.peerId = init.peerId
    meshId = init.mesh
    for (const n of [b, c]) {
      const { token } = await run(a, ['invite', '--role', 'submit,build,read'])
      const joined = await run(n, ['join', token, '--listen', `/ip4/127.0.0.1/tcp/${n.port}`, ...(n === c ? ['--label', 'gpu'] : [])])
      n.peerId = joined.peerId
    }
  }, 120_000)

  afterAll(async () => {
    for (const n of nodes) await cli(['stop'], { home: n.home, timeoutMs: 20_000 })
    await killAllDaemons()
    for (const t of temps) await t.cleanup()
  })

  it('peers on each node lists all three with a fresh load report', async () => {
    for (const n of [a, b, c]) {
      const peers = await waitFor(async () => {
        const list = await run(n, ['peers'])
        return list.length === 3 && list.every((p: any) => p.reportAgeMs < LOAD_SILENT_AFTER_MS && p.state === 'active') ? list : undefined
      }, { timeoutMs: 30_000, what: `three fresh peers on ${n.name}` })
      expect(peers.map((p: any) => p.peerId).sort()).toEqual([a.peerId, b.peerId, c.peerId].sort())
      const gpu = peers.find((p: any) => p.peerId === c.peerId)
      // a node with Nix installed adds the nix label by itself (docs/nix.md)
      expect(gpu.labels.filter((l: string) => l !== 'nix')).toEqual(['gpu'])
      expect(gpu.load.cores).toBeGreaterThan(0)
      const status = await run(n, ['status'])
      expect(status.mesh).toBe(meshId)
    }
    expect((await run(a, ['status'])).roles).toContain('admin')
    expect((await run(b, ['status'])).roles).not.toContain('admin')
  })

  it('a load report its author sent to every member is delivered but not forwarded by those who got it from the author', async () => {
    // the three are connected to each other: once a node reports with all of them subscribed, the
    // two others accept its report and keep it to themselves (the idle heartbeat is 15 s)
    for (const n of [a, b, c]) {
      await waitFor(async () => {
        const load = (await run(n, ['status'])).messages?.gossip?.load
        return load?.notForwarded >= 2 ? load : undefined
      }, { timeoutMs: 60_000, what: `${n.name} to keep reports to itself` })
    }
    // what a node kept to itself it still took in: every peer's report is fresh
    for (const n of [a, b, c]) {
      const list = await run(n, ['peers'])
      expect(list.every((p: any) => p.reportAgeMs < LOAD_SILENT_AFTER_MS && p.state === 'active')).toBe(true)
    }
  }, 90_000)

  it('a job submitted on node b appears on a and c with the same outcome', async () => {
    const view = await run(b, ['submit', 'examples/params.yaml', '--wait'])
    expect(view.state).toBe('succeeded')
    expect([a.peerId, b.peerId, c.peerId]).toContain(view.executor)
    for (const n of [a, c]) {
      const job = await waitFor(async () => {
        const j = json(await cli(['show', view.id, '--json'], { home: n.home }))
        return j.state === 'succeeded' ? j : undefined
      }, { what: `the job on ${n.name}` }).catch(async () => await run(n, ['show', view.id]))
      expect(job.state).toBe('succeeded')
      expect(job.submitter).toBe(b.peerId)
      expect(job.executor).toBe(view.executor)
      expect(job.events.map((e: any) => e.type)).toEqual(['submitted', 'started', 'finished'])
    }
  })

  it('a machine that is not a member cannot connect, and forged or unsigned announcements are dropped and counted', async () => {
    // an outsider with the right address
    const outsider = await createMeshLibp2p({ privateKey: (await Identity.generate()).privateKey, listen: [], bootstrap: [], isAllowed: () => true })
    try {
      const addr = multiaddr(`/ip4/127.0.0.1/tcp/${a.port}/p2p/${a.peerId}`)
      // the member refuses the connection as soon as the handshake proves who is calling
      await outsider.dial(addr, { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
      await waitFor(() => outsider.getConnections().every(conn => conn.status !== 'open'), { what: 'the outsider to be cut off' })
      let pinged = false
      try {
        await outsider.services.ping.ping(addr, { signal: AbortSignal.timeout(5000) })
        pinged = true
      } catch {}
      expect(pinged).toBe(false)
      expect((await run(a, ['peers'])).map((p: any) => p.peerId)).not.toContain(outsider.peerId.toString())
    } finally {
      await outsider.stop()
    }

    // a real member (joined with a token) that publishes garbage, a forged signature and a non-member's job
    const t = await tempHome('cit-x-')
    temps.push(t)
    const { token } = await run(a, ['invite', '--role', 'submit'])
    await joinMeshHome(t.dir, token)
    const me = await loadOrCreateIdentity(homePaths(t.dir))
    const member = await createMeshLibp2p({ privateKey: me.privateKey, listen: [], bootstrap: [`/ip4/127.0.0.1/tcp/${a.port}/p2p/${a.peerId}`], isAllowed: () => true })
    try {
      const topic = `/cit/${meshId}/job/1`
      member.services.pubsub.subscribe(topic)
      await waitFor(() => member.services.pubsub.getSubscribers(topic).length > 0, { what: 'the member to see a subscriber' })
      const before = (await run(a, ['status'])).dropped
      const spec = json(await cli(['validate', 'examples/params.yaml', '--json'], { home: t.dir }))
      expect(spec.valid).toBe(true)
      const stranger = await Identity.generate()
      const announcement = { spec: { name: 'forged', priority: 0, timeoutMs: 60000, requires: { labels: [], cores: 1, memoryBytes: 0 }, params: {}, supersede: 'waiting', cache: false, stages: [{ title: 's', steps: [{ title: 't', command: 'echo pwned', ignoreExitCode: false }] }], artefacts: [] }, params: {}, priority: 0, submittedAt: Date.now(), node: me.id, nonce: 'abcdef0123456789' }
      // a valid envelope whose signature no longer matches its bytes
      const env = decodeCbor(seal(me, 'job', announcement).bytes, 1 << 20) as Record<string, Uint8Array>
      env.s = new Uint8Array(env.s)
      env.s[0] ^= 0x55
      const forged = encodeCbor(env)
      await member.services.pubsub.publish(topic, forged)
      await member.services.pubsub.publish(topic, encodeCbor({ not: 'an envelope' }))
      await member.services.pubsub.publish(topic, seal(stranger, 'job', { ...announcement, node: stranger.id }).bytes)
      const after = await waitFor(async () => {
        const d = (await run(a, ['status'])).dropped
        const grew = (k: string): boolean => (d[k] ?? 0) > (before[k] ?? 0)
        return grew('bad-signature') && grew('malformed') && grew('not-a-member') ? d : undefined
      }, { what: 'the drops to be counted' })
      expect(after['bad-signature']).toBeGreaterThan(0)
      const names = (await run(a, ['jobs'])).map((j: any) => j.name)
      expect(names).not.toContain('forged')
    } finally {
      await member.stop()
    }
  })

  it('a job submitted while c is cut off reaches a and b once they are back; restarts lose nothing', async () => {
    for (const n of [a, b]) json(await cli(['stop', '--json'], { home: n.home }))
    await waitFor(async () => (await run(c, ['status'])).connected === 0, { what: 'c to be alone' })
    const offline = await run(c, ['submit', 'examples/params.yaml'])
    const shown = await run(c, ['show', offline.id])
    expect(shown.announced).toBe(false)
    for (const n of [a, b]) n.daemon = await startDaemon(n.home)
    for (const n of [a, b]) {
      await waitFor(async () => (await jobIds(n)).includes(offline.id), { timeoutMs: 30_000, what: `the offline job on ${n.name}` })
    }
    await waitFor(async () => (await run(c, ['show', offline.id])).announced === true, { what: 'c to see its job announced' })

    // restart all three: jobs and grants are all still there
    const before = await Promise.all([a, b, c].map(async n => ({ jobs: (await jobIds(n)).sort(), members: (await run(n, ['trust', 'list'])).members.length })))
    for (const n of [a, b, c]) json(await cli(['stop', '--json'], { home: n.home }))
    for (const n of [a, b, c]) n.daemon = await startDaemon(n.home)
    const after = await Promise.all([a, b, c].map(async n => ({ jobs: (await jobIds(n)).sort(), members: (await run(n, ['trust', 'list'])).members.length })))
    expect(after).toEqual(before)
    expect(after[0].jobs).toContain(offline.id)
    expect(after[0].members).toBeGreaterThanOrEqual(3)
    await waitFor(async () => (await run(a, ['peers'])).filter((p: any) => p.state === 'active').length >= 3, { timeoutMs: 30_000, what: 'the mesh to heal after the restart' })
  })

  it('after trust revoke of a key, its new submissions are refused on every member', async () => {
    await run(a, ['trust', 'revoke', b.peerId])
    const revokedAt = Date.now()
    // b hears of its revocation, refuses to submit, and the others never see anything from it
    await waitFor(async () => !(await run(b, ['status'])).roles.includes('submit'), { timeoutMs: 20_000, what: 'b to learn of the revocation' })
    const r = await cli(['submit', 'examples/params.yaml', '--json'], { home: b.home })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('submit role')
    for (const n of [a, c]) {
      await waitFor(async () => !(await run(n, ['trust', 'list'])).members.map((m: any) => m.keyId).includes(b.peerId), { what: `${n.name} to drop b` })
      const members = (await run(n, ['trust', 'list'])).members.map((m: any) => m.keyId)
      expect(members).toContain(a.peerId)
      expect(members).toContain(c.peerId)
      expect((await run(n, ['jobs'])).filter((j: any) => j.submitter === b.peerId && j.submittedAt > revokedAt)).toEqual([])
    }
  })
})
