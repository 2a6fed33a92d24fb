import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, startDaemon, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { isAlive } from '../../node/pidfile.js'
import { allPeersFresh, spec, submit } from '../chaos/helpers.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

const types = (job: any): string[] => job.events.map((e: any) => e.type)

/** the node running `id`, once it runs */
async function executorOf (mesh: TestMesh, id: string): Promise<MeshNode> {
  const j = await waitFor(async () => { const v = await mesh.api(mesh.nodes[0]).show(id); return v.state === 'running' ? v : undefined }, { timeoutMs: 60_000, what: 'the job to run' })
  return mesh.nodes.find(n => n.peerId === j.executor)!
}

/** the daemon log's lines that tell of an error nothing caught */
async function unhandled (n: MeshNode): Promise<string[]> {
  const log = await readFile(join(n.home, 'daemon.log'), 'utf8')
  return log.split('\n').filter(l => /unhandled|uncaught|a part failed to stop/.test(l))
}

describe('a graceful stop on a 3-node mesh', () => {
  let mesh: TestMesh
  beforeAll(async () => {
    mesh = await makeMesh(3, { config: () => ({ slots: 2 }) })
    await allPeersFresh(mesh)
  }, 180_000)
  afterAll(async () => { await mesh?.close() })

  it('stop hands the running jobs over: they finish elsewhere, the re-run says why, nothing is recorded failed; every part stops cleanly', async () => {
    const ids = [
      await submit(mesh, mesh.nodes[0], spec('name: handed-a\nstages:\n  - steps:\n      - sleep 6; echo a\n')),
      await submit(mesh, mesh.nodes[0], spec('name: handed-b\nstages:\n  - steps:\n      - sleep 6; echo b\n'))
    ]
    const victim = await executorOf(mesh, ids[0])
    const { pid } = await mesh.api(victim).status()
    // a follower of the job's output is attached while the node stops
    const follow = cli(['logs', ids[0], '--follow'], { home: victim.home, timeoutMs: 60_000 })
    const t0 = Date.now()
    const r = await cli(['stop', '--json'], { home: victim.home, timeoutMs: 60_000 })
    expect(r.code).toBe(0)
    expect(isAlive(pid)).toBe(false)
    const stopMs = Date.now() - t0
    await follow
    const observer = mesh.nodes.find(n => n !== victim)!
    for (const id of ids) {
      const done = await waitFor(async () => { const j = await mesh.api(observer).show(id); return ['succeeded', 'failed'].includes(j.state) ? j : undefined }, { timeoutMs: 90_000, what: 'the job to finish' })
      expect(done.state).toBe('succeeded')
      expect(types(done)).not.toContain('failed')
      if (done.events.some((e: any) => e.node === victim.peerId && e.type === 'started')) {
        // it ran on the stopped node: handed over with the reason, and run again elsewhere
        expect(done.executor).not.toBe(victim.peerId)
        expect(done.events.find((e: any) => e.type === 'requeued')?.reason).toMatch(/handed over/)
      }
    }
    // handed over at once: not after a lease lapsed (15 s) and a silence window (20 s)
    expect(stopMs).toBeLessThan(15_000)
    expect(await unhandled(victim)).toEqual([])
    await startDaemon(victim.home)
  }, 180_000)

  it('stop --wait finishes the running job first, on the same node', async () => {
    const id = await submit(mesh, mesh.nodes[1], spec('name: waited\nstages:\n  - steps:\n      - sleep 3; echo waited\n'))
    const victim = await executorOf(mesh, id)
    const r = await cli(['stop', '--wait', '--json'], { home: victim.home, timeoutMs: 60_000 })
    expect(r.code).toBe(0)
    const observer = mesh.nodes.find(n => n !== victim)!
    const done = await waitFor(async () => { const j = await mesh.api(observer).show(id); return j.state === 'succeeded' ? j : undefined }, { timeoutMs: 30_000, what: 'the job to finish' })
    expect(done.executor).toBe(victim.peerId)
    expect(types(done)).not.toContain('requeued')
    expect(await unhandled(victim)).toEqual([])
    await startDaemon(victim.home)
  }, 120_000)
})
