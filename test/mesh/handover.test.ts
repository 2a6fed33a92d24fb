import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, startDaemon, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { AttachTerminal } from '../helpers/terminal.js'
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
    // the third node alone has the label `holder`: the last test pins its jobs there
    mesh = await makeMesh(3, { config: i => ({ slots: 2, ...(i === 2 ? { labels: ['holder'] } : {}) }) })
    await allPeersFresh(mesh)
  }, 180_000)
  const terms: AttachTerminal[] = []
  afterAll(async () => {
    for (const t of terms) t.kill()
    await mesh?.close()
  })

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

  it('a stop with a fetch from it and an attach session to it in flight: both end cleanly, every part stops, nothing unhandled', async () => {
    const [observer, viewerNode, holder] = mesh.nodes
    // 96 MiB the holder alone has, then a job that runs until the stop
    const made = await submit(mesh, observer, spec('name: big-output\nrequires:\n  labels: [holder]\nartefacts: [big.bin]\nstages:\n  - steps:\n      - head -c 100663296 /dev/urandom > big.bin\n'))
    const built = await waitFor(async () => { const j = await mesh.api(observer).show(made); return j.state === 'succeeded' ? j : undefined }, { timeoutMs: 90_000, what: 'the artefact job' })
    const big = built.artefacts[0].sha256 as string
    const long = await submit(mesh, observer, spec('name: held-long\nrequires:\n  labels: [holder]\nstages:\n  - steps:\n      - for i in $(seq 1 600); do echo tick-$i; sleep 0.1; done\n'))
    expect((await executorOf(mesh, long)).peerId).toBe(holder.peerId)
    const { pid } = await mesh.api(holder).status()
    const viewer = new AttachTerminal(viewerNode.home, [long])
    terms.push(viewer)
    await viewer.see('tick-')
    const fetching = cli(['fetch', big, '-o', join(observer.home, 'big.bin'), '--json'], { home: observer.home, timeoutMs: 90_000 })
    // the fetch is under way when the holder stops: its partial download exists
    await waitFor(async () => (await readdir(join(observer.home, 'transfers')).catch(() => [])).length > 0 || undefined, { timeoutMs: 30_000, intervalMs: 10, what: 'the download to start' })
    const r = await cli(['stop', '--json'], { home: holder.home, timeoutMs: 60_000 })
    expect(r.code).toBe(0)
    expect(isAlive(pid)).toBe(false)
    // the viewer's session ends with the node, and the command exits
    await viewer.exited()
    // the fetch either finished before the stop or failed with a reason, never hangs or crashes
    const f = await fetching
    if (f.code === 0) {
      expect(JSON.parse(f.stdout).sha256).toBe(big)
    } else {
      expect(JSON.parse(f.stderr.split('\n')[0]).error.code).toMatch(/^ERR_/)
      expect(f.stderr).not.toMatch(/\n\s+at /)
    }
    // the running job was handed over (only the holder may run it, so it waits for it to come back)
    const after = await waitFor(async () => { const j = await mesh.api(observer).show(long); return j.events.some((e: any) => e.type === 'requeued') ? j : undefined }, { timeoutMs: 30_000, what: 'the hand-over' })
    expect(after.events.find((e: any) => e.type === 'requeued')?.reason).toMatch(/handed over/)
    expect(types(after)).not.toContain('failed')
    expect(await unhandled(holder)).toEqual([])
    await startDaemon(holder.home)
    await mesh.run(observer, ['cancel', long])
  }, 240_000)
})
