import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, ROOT, cli, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import type { TestMesh } from '../helpers/mesh.js'

/** a CLI command left running, its stderr readable while it runs */
function running (args: string[], home: string): { stderr: () => string, done: Promise<number | null>, kill: () => void } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, CIT_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  child.stdout.resume()
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 120_000)
  const done = new Promise<number | null>(resolve => child.on('close', code => { clearTimeout(timer); resolve(code) }))
  return { stderr: () => err, done, kill: () => { child.kill('SIGKILL') } }
}

describe('why a queued job waits: said per node, and said while waiting', () => {
  let mesh: TestMesh
  const held: Array<{ kill: () => void }> = []

  beforeAll(async () => {
    // node 0 has the label the job needs but admits nothing at its load; node 1 lacks the label
    mesh = await makeMesh(2, { labels: i => [i === 0 ? 'alpha' : 'beta'], config: i => i === 0 ? { loadLimit: 0 } : {} })
  }, 120_000)

  afterAll(async () => {
    for (const h of held) h.kill()
    await mesh?.close()
  }, 180_000)

  it('submit --wait and logs --follow print the reason and its changes; only nodes with the label explain it; draining is not paused', async () => {
    const [n0, n1] = mesh.nodes
    await waitFor(async () => (await mesh.api(n1).peers()).filter(p => p.state === 'active').length === 2, { timeoutMs: 30_000, what: 'node 1 to hear node 0' })
    const file = join(n1.home, 'needs-alpha.yaml')
    await writeFile(file, 'name: needs-alpha\nrequires: { labels: [alpha] }\nstages:\n  - steps:\n      - echo ran\n')

    const submit = running(['submit', file, '--wait'], n1.home)
    held.push(submit)
    const loadLine = await waitFor(() => /is queued: (.*loadLimit.*)/.exec(submit.stderr())?.[1], { timeoutMs: 30_000, what: 'the load reason on stderr' })
    expect(loadLine).toContain('above the load threshold')
    expect(loadLine).toContain('loadLimit of 0')
    expect(loadLine).not.toContain('missing label')
    const id = /as job ([0-9a-f]{64})/.exec(submit.stderr())![1]

    const shown = await mesh.run(n1, ['show', id])
    expect(shown.state).toBe('queued')
    expect(shown.reason).toMatch(/^all eligible nodes are above the load threshold/)
    expect(shown.reason).not.toContain('missing label')

    const follow = running(['logs', id, '--follow'], n0.home)
    held.push(follow)
    await waitFor(() => follow.stderr().includes('is queued: '), { timeoutMs: 30_000, what: 'logs --follow to say why it waits' })

    await mesh.run(n0, ['pause'])
    await waitFor(() => submit.stderr().includes('every eligible node is paused'), { timeoutMs: 30_000, what: 'the reason to change to paused' })
    await mesh.run(n0, ['drain'])
    await waitFor(() => submit.stderr().includes('every eligible node is draining'), { timeoutMs: 30_000, what: 'the reason to change to draining' })
    const drained = await mesh.run(n1, ['show', id])
    expect(drained.reason).toContain('draining')
    expect(drained.reason).not.toContain('paused')
    expect((await mesh.run(n0, ['status'])).state).toBe('draining')

    expect((await cli(['cancel', id], { home: n1.home })).code).toBe(0)
    expect(await submit.done).toBe(1)
    expect(await follow.done).toBe(0)
  }, 180_000)
})
