import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

async function sha256File (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return h.digest('hex')
}

/** peak resident memory of a process so far (VmHWM), in bytes */
async function peakRss (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024
}

describe('artefacts and logs across the mesh', () => {
  let mesh: TestMesh
  let a: MeshNode, b: MeshNode, c: MeshNode
  let dir = ''
  const file = async (name: string, body: string): Promise<string> => {
    const p = join(dir, `${name}.yaml`)
    await writeFile(p, `name: ${name}\n${body}`)
    return p
  }

  beforeAll(async () => {
    mesh = await makeMesh(3)
    ;[a, b, c] = mesh.nodes
    dir = mesh.nodes[0].home
    // only a builds, so the bytes must travel
    await mesh.run(b, ['pause'])
    await mesh.run(c, ['pause'])
    for (const n of mesh.nodes) {
      await waitFor(async () => (await mesh.api(n).peers()).length === 3, { timeoutMs: 30_000, what: 'the mesh' })
    }
  }, 120_000)
  afterAll(async () => { await mesh?.close() })

  it('a 200 MiB artefact built on a and fetched on c has the same sha256; c\'s daemon memory stays far below its size', async () => {
    const big = await file('big', 'timeout: 5m\nartefacts: [big.bin]\nstages:\n  - steps:\n      - head -c 209715200 /dev/urandom > big.bin\n')
    const job = await mesh.run(c, ['submit', big, '--wait'])
    expect(job.state).toBe('succeeded')
    expect(job.executor).toBe(a.peerId)
    const art = job.artefacts[0]
    expect(art.size).toBe(209715200)
    const { pid } = await mesh.run(c, ['status'])
    const before = await peakRss(pid)
    const out = join(c.home, 'big.bin')
    const r = await cli(['fetch', `${job.id}:big.bin`, '-o', out], { home: c.home, timeoutMs: 240_000 })
    expect(r.code).toBe(0)
    expect(await sha256File(out)).toBe(art.sha256)
    const growth = (await peakRss(pid)) - before
    expect(growth).toBeLessThan(100 * 1024 * 1024)
  }, 300_000)

  it('a cached resubmission completes without running its steps and points to the same artefacts', async () => {
    const cached = await file('cached', 'cache: true\nartefacts: [out.txt]\nstages:\n  - steps:\n      - date +%s%N > out.txt\n')
    const first = await mesh.run(b, ['submit', cached, '--wait'])
    expect(first.state).toBe('succeeded')
    expect(first.cacheHit).toBe(false)
    // c hears of the result, then its own submission of the same inputs is a cache hit
    await waitFor(async () => (await mesh.api(c).show(first.id)).state === 'succeeded', { what: 'the result on c' })
    const second = await mesh.run(c, ['submit', cached, '--wait'])
    expect(second.state).toBe('succeeded')
    expect(second.cacheHit).toBe(true)
    expect(second.cachedFrom).toBe(first.id)
    expect(second.artefacts).toEqual(first.artefacts)
    expect(second.log).toBe(first.log)
    expect(second.events.map((e: any) => e.type)).toEqual(['submitted', 'finished'])
    // pinned to its submitter: a member that hears the announcement before the result never claims it
    expect(second.runOn).toBe(c.peerId)
    // priority is not an input: still the same result
    const changed = await mesh.run(c, ['submit', cached, '--wait', '--priority', '1'])
    expect(changed.cacheHit).toBe(true)
  }, 120_000)

  it('the log of a running job streams live on another node, and the stored recording after', async () => {
    const ticking = await file('ticking', 'stages:\n  - steps:\n      - for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.5; done\n')
    const { id } = await mesh.run(b, ['submit', ticking])
    await waitFor(async () => (await mesh.api(c).show(id)).state === 'running', { what: 'the job to run' })
    // output reaches c while the job still runs on a
    await waitFor(async () => (await cli(['logs', id], { home: c.home })).stdout.includes('tick-2'), { what: 'live output on c' })
    expect((await mesh.api(a).show(id)).state).toBe('running')
    const follow = cli(['logs', id, '--follow'], { home: c.home })
    const done = await follow
    expect(done.code).toBe(0)
    expect(done.stdout).toContain('tick-6')
    const view = await waitFor(async () => { const j = await mesh.api(c).show(id); return j.state === 'succeeded' ? j : undefined }, { what: 'the end' })
    expect(view.executor).toBe(a.peerId)
    const after = await cli(['logs', id], { home: c.home })
    for (let i = 1; i <= 6; i++) expect(after.stdout).toContain(`tick-${i}`)
  }, 120_000)
})
