import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import type { TestMesh } from '../helpers/mesh.js'

describe('run runs here and now, whichever members the mesh has', () => {
  let mesh: TestMesh

  beforeAll(async () => {
    // node 1 admits nothing from the mesh at its load: only its own `run` can take it
    mesh = await makeMesh(2, { config: i => i === 1 ? { loadLimit: 0 } : {} })
  }, 120_000)

  afterAll(async () => { await mesh?.close() })

  it('run on a member runs on that member and says so; submit still goes to whichever member admits it', async () => {
    const [n0, n1] = mesh.nodes
    await waitFor(async () => (await mesh.api(n1).peers()).filter(p => p.state === 'active').length === 2, { timeoutMs: 30_000, what: 'the mesh' })
    const file = join(n1.home, 'here.yaml')
    await writeFile(file, 'name: here\nstages:\n  - steps:\n      - echo ran-here\n')

    const r = await cli(['run', file], { home: n1.home, timeoutMs: 90_000 })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('ran-here')
    expect(r.stderr).toMatch(/here succeeded on this node in /)
    const job = await mesh.run(n1, ['show', 'here'])
    expect(job.executor).toBe(n1.peerId)
    expect(job.runOn).toBe(n1.peerId)
    expect(job.events.filter((e: any) => ['claimed', 'started', 'finished'].includes(e.type)).every((e: any) => e.node === n1.peerId)).toBe(true)
    // the other member knows of it, and of where it ran
    const there = await waitFor(async () => { const j = await mesh.api(n0).show(job.id); return j.state === 'succeeded' ? j : undefined }, { timeoutMs: 30_000, what: 'node 0 to see the result' })
    expect(there.executor).toBe(n1.peerId)

    const s = await cli(['submit', file, '--wait', '--json'], { home: n1.home, timeoutMs: 90_000 })
    expect(s.code).toBe(0)
    expect(JSON.parse(s.stdout).executor).toBe(n0.peerId)
  }, 180_000)
})
