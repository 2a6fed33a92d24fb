import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import type { TestMesh } from '../helpers/mesh.js'

describe('a cache hit says it is one: from which job, run where', () => {
  let mesh: TestMesh

  beforeAll(async () => {
    // node 1 submits, node 0 builds
    mesh = await makeMesh(2, { config: i => i === 1 ? { loadLimit: 0 } : {} })
  }, 120_000)

  afterAll(async () => { await mesh?.close() })

  it('the outcome line, show and jobs name the original job and the node that ran it, never the submitter', async () => {
    const [n0, n1] = mesh.nodes
    await waitFor(async () => (await mesh.api(n1).peers()).filter(p => p.state === 'active').length === 2, { timeoutMs: 30_000, what: 'the mesh' })
    const file = join(n1.home, 'cached.yaml')
    await writeFile(file, 'name: cached\ncache: true\nstages:\n  - steps:\n      - sleep 1; echo built\n')
    const first = JSON.parse((await cli(['submit', file, '--wait', '--json'], { home: n1.home, timeoutMs: 90_000 })).stdout)
    expect(first.executor).toBe(n0.peerId)
    expect(first.cacheHit).toBe(false)

    const again = await cli(['submit', file, '--wait'], { home: n1.home, timeoutMs: 90_000 })
    expect(again.code).toBe(0)
    const line = again.stderr.trim().split('\n').pop()!
    expect(line).toContain('from the cache')
    expect(line).toContain(`the result of job ${(first.id as string).slice(0, 12)}`)
    expect(line).toMatch(/which ran on node …\S+ in /)
    expect(line).not.toMatch(/succeeded on /)

    const hit = await mesh.run(n1, ['show', 'cached'])
    expect(hit.id).not.toBe(first.id)
    expect(hit.cacheHit).toBe(true)
    expect(hit.cachedFrom).toBe(first.id)
    expect(hit.executor).toBe(n0.peerId)
    // stored finished at once, from its submitter's own index: two events, both its own
    expect(hit.events.map((e: any) => [e.type, e.by])).toEqual([['submitted', n1.peerId], ['finished', n1.peerId]])
    // and the mesh hears of it as of any job: the builder shows the hit, finished, from the same job
    await waitFor(async () => {
      const there = await mesh.run(n0, ['show', hit.id]).catch(() => undefined)
      return there?.state === 'succeeded' && there.cacheHit === true && there.cachedFrom === first.id
    }, { timeoutMs: 30_000, what: 'node 0 to hear of the cache hit' })
    // its three records went out as one bundle, which the builder took
    const bundles = async (n: typeof n0): Promise<{ published: number, accepted: number }> => ((await mesh.api(n).status()).messages as any).gossip.bundle
    expect((await bundles(n1)).published).toBe(1)
    expect((await bundles(n0)).accepted).toBe(1)
    const human = (await cli(['show', hit.id], { home: n1.home })).stdout
    expect(human).toContain(`the result of job ${first.id as string}`)
    expect(human).toMatch(new RegExp(`^executor\\s+${n0.peerId}`, 'm'))

    const rows = await mesh.run(n1, ['jobs'])
    const row = rows.find((j: any) => j.id === hit.id)
    expect(row.executor).toBe(n0.peerId)
    expect(row.cacheHit).toBe(true)
    const table = (await cli(['jobs'], { home: n1.home })).stdout
    const hitRow = table.split('\n').find(l => l.startsWith(hit.id.slice(0, 12)))!
    expect(hitRow).toContain(`…${n0.peerId.slice(-8)} (cache)`)
    expect(hitRow).not.toContain(n1.peerId.slice(-8))
  }, 180_000)
})
