import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { allPeersFresh } from '../chaos/helpers.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

let files = ''
async function jobFile (name: string, body: string): Promise<string> {
  const path = join(files, `${name}.yaml`)
  await writeFile(path, `name: ${name}\n${body}`)
  return path
}

const types = (job: any): string[] => job.events.map((e: any) => e.type)
const count = (job: any, type: string): number => types(job).filter(t => t === type).length

async function waitState (mesh: TestMesh, n: MeshNode, id: string, states: string[], timeoutMs = 60_000): Promise<any> {
  return await waitFor(async () => {
    const j = await mesh.api(n).show(id)
    return states.includes(j.state) ? j : undefined
  }, { timeoutMs, intervalMs: 100, what: `job ${id.slice(0, 8)} to be ${states.join('/')} on ${n.name}` })
}


beforeAll(async () => {
  files = await mkdtemp(join(tmpdir(), 'cit-jobs-'))
  // jobs run as build users with a /tmp of their own: the release file below reaches them as an
  // operator would expose a path (sandbox.readOnlyPaths), and they may read it
  await chmod(files, 0o755)
})
afterAll(async () => { await rm(files, { recursive: true, force: true }) })

describe('claiming on a 5-node mesh', () => {
  let mesh: TestMesh
  beforeAll(async () => {
    mesh = await makeMesh(5, { config: () => ({ slots: 2 }) })
    await allPeersFresh(mesh)
  }, 180_000)
  afterAll(async () => { await mesh?.close() })

  it('50 jobs from several nodes: each runs and is accepted exactly once, spread over nodes, same outcome everywhere', async () => {
    const ids: string[] = []
    for (let i = 0; i < 50; i++) {
      const file = await jobFile(`spread-${i}`, 'stages:\n  - steps:\n      - sleep 0.2; echo job-$CIT_JOB_NAME\n')
      ids.push((await mesh.run(mesh.nodes[i % 5], ['submit', file])).id)
    }
    const first = mesh.nodes[0]
    const results = new Map<string, any>()
    for (const id of ids) results.set(id, await waitState(mesh, first, id, ['succeeded', 'failed'], 120_000))
    for (const job of results.values()) {
      expect(job.state).toBe('succeeded')
      const history = job.events.map((e: any) => `${e.type}@${e.node.slice(-4)}+${e.at - job.submittedAt}${e.reason != null ? `(${e.reason})` : ''}`).join(' ')
      expect(count(job, 'started'), history).toBe(1)
      expect(count(job, 'finished'), history).toBe(1)
    }
    const executors = new Set([...results.values()].map(j => j.executor))
    expect(executors.size).toBeGreaterThan(1)
    for (const n of mesh.nodes.slice(1)) {
      for (const id of ids) {
        const j = await waitState(mesh, n, id, ['succeeded', 'failed'])
        expect(j.executor).toBe(results.get(id).executor)
        expect(j.log).toBe(results.get(id).log)
      }
    }
  }, 300_000)

  it('SIGKILL of the executing daemon: the job is claimed again elsewhere after its lease expires, with one accepted result', async () => {
    const file = await jobFile('survivor', 'stages:\n  - steps:\n      - sleep 6; echo survived\n')
    const { id } = await mesh.run(mesh.nodes[1], ['submit', file])
    const running = await waitState(mesh, mesh.nodes[1], id, ['running'])
    const victim = mesh.nodes.find(n => n.peerId === running.executor)!
    const { pid } = await mesh.run(victim, ['status'])
    process.kill(pid, 'SIGKILL')
    const observer = mesh.nodes.find(n => n !== victim)!
    const done = await waitState(mesh, observer, id, ['succeeded', 'failed'], 120_000)
    expect(done.state).toBe('succeeded')
    expect(done.executor).not.toBe(victim.peerId)
    expect(count(done, 'finished')).toBe(1)
    // the re-run says why it happened
    const starts = done.events.filter((e: any) => e.type === 'started')
    expect(starts.length).toBe(2)
    expect(starts[1].reason).toMatch(/taken over from/)
  }, 180_000)
})

describe('admission, priority and supersede on a 4-node mesh', () => {
  let mesh: TestMesh
  let gpu: MeshNode, paused: MeshNode, plain: MeshNode
  beforeAll(async () => {
    mesh = await makeMesh(4, {
      labels: i => i === 0 ? ['gpu'] : [],
      config: i => ({ slots: 1, sandbox: { readOnlyPaths: [files] }, ...(i === 2 ? { loadLimit: 0 } : {}) })
    })
    ;[gpu, paused, , plain] = mesh.nodes
    await mesh.run(paused, ['pause'])
    await allPeersFresh(mesh)
  }, 180_000)
  afterAll(async () => { await mesh?.close() })

  it('a gpu job runs only on the node with the label; paused and overloaded nodes claim nothing', async () => {
    const g = await jobFile('needs-gpu', 'requires: { labels: [gpu] }\nstages:\n  - steps:\n      - echo on-gpu\n')
    const gj = await mesh.run(plain, ['submit', g, '--wait'])
    expect(gj.executor).toBe(gpu.peerId)
    const ids: string[] = []
    for (let i = 0; i < 8; i++) ids.push((await mesh.run(mesh.nodes[i % 4], ['submit', await jobFile(`plain-${i}`, 'stages:\n  - steps:\n      - sleep 0.3\n')])).id)
    for (const id of ids) {
      const j = await waitState(mesh, plain, id, ['succeeded'])
      expect([gpu.peerId, plain.peerId]).toContain(j.executor)
    }
    const nobody = await jobFile('needs-arm', 'requires: { labels: [arm] }\nstages:\n  - steps:\n      - echo never\n')
    const { id } = await mesh.run(plain, ['submit', nobody])
    const shown = await waitFor(async () => {
      const j = await mesh.run(gpu, ['show', id])
      return j.reason?.includes('label arm') === true ? j : undefined
    }, { what: 'the wait reason to name the missing label' })
    expect(shown.state).toBe('queued')
    await mesh.run(plain, ['cancel', id])
  }, 180_000)

  it('with one free slot, the higher priority runs first; priority can be changed while queued', async () => {
    await mesh.run(gpu, ['pause'])
    // the blocker holds the only slot until the test lets it go (not for a fixed time: under load
    // the submissions below can take longer than any fixed time, and the order would be untested)
    const release = join(files, 'release-blocker')
    const block = (await mesh.run(plain, ['submit', await jobFile('blocker', `timeout: 90s\nstages:\n  - steps:\n      - while [ ! -e ${release} ]; do sleep 0.1; done\n`)])).id
    await waitState(mesh, plain, block, ['running'])
    const low = (await mesh.run(plain, ['submit', await jobFile('low', 'stages:\n  - steps:\n      - echo low\n')])).id
    const mid = (await mesh.run(plain, ['submit', await jobFile('mid', 'priority: 5\nstages:\n  - steps:\n      - echo mid\n')])).id
    const high = (await mesh.run(plain, ['submit', await jobFile('high', 'stages:\n  - steps:\n      - echo high\n'), '--priority', '1'])).id
    // once every node's latest report is in: nobody can take it now, and show says why
    await waitFor(async () => /slot|paused|busy|threshold/.test((await mesh.api(plain).show(low)).reason ?? ''), { what: 'the wait reason' })
    await mesh.run(plain, ['priority', high, '10'])
    expect((await mesh.api(plain).show(block)).state).toBe('running')
    await writeFile(release, '')
    const started = async (id: string): Promise<number> => (await waitState(mesh, plain, id, ['succeeded'])).events.find((e: any) => e.type === 'started').at
    const [h, m, l] = [await started(high), await started(mid), await started(low)]
    expect(h).toBeLessThan(m)
    expect(m).toBeLessThan(l)
    await mesh.run(gpu, ['resume'])
  }, 120_000)

  it('a superseded waiting job never runs; supersede: running cancels the running one', async () => {
    await mesh.run(gpu, ['pause'])
    await mesh.run(plain, ['pause'])
    const older = (await mesh.run(plain, ['submit', await jobFile('same', 'stages:\n  - steps:\n      - echo older\n')])).id
    const newer = (await mesh.run(plain, ['submit', await jobFile('same', 'stages:\n  - steps:\n      - echo newer\n')])).id
    const o = await waitState(mesh, plain, older, ['superseded'])
    expect(o.reason).toContain(newer)
    await mesh.run(plain, ['resume'])
    const n = await waitState(mesh, plain, newer, ['succeeded'])
    expect(count(n, 'started')).toBe(1)
    expect(types(await mesh.run(gpu, ['show', older]))).not.toContain('started')

    const body = 'supersede: running\nstages:\n  - steps:\n      - sleep 60\n'
    const first = (await mesh.run(plain, ['submit', await jobFile('rerun', body)])).id
    await waitState(mesh, plain, first, ['running'])
    const second = (await mesh.run(plain, ['submit', await jobFile('rerun', 'supersede: running\nstages:\n  - steps:\n      - echo second\n')])).id
    const f = await waitState(mesh, plain, first, ['superseded'])
    expect(f.reason).toContain(second)
    await waitState(mesh, gpu, second, ['succeeded'])
    // the superseded run's processes were stopped: the node is free again
    await waitFor(async () => (await mesh.run(plain, ['status'])).running.length === 0, { what: 'the superseded run to stop' })
    await mesh.run(gpu, ['resume'])
  }, 180_000)
})
