import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as pty from 'node-pty'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, json, waitFor } from '../helpers/cli.js'
import { AttachTerminal as Terminal } from '../helpers/terminal.js'
import { makeMesh } from '../helpers/mesh.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

describe('attach to a remote build\'s terminal', () => {
  let mesh: TestMesh
  let a: MeshNode, b: MeshNode, c: MeshNode, d: MeshNode
  const terms: Terminal[] = []
  const open = (n: MeshNode, args: string[]): Terminal => { const t = new Terminal(n.home, args); terms.push(t); return t }

  beforeAll(async () => {
    mesh = await makeMesh(3)
    ;[a, b, c] = mesh.nodes
    // d may submit but not read
    const { token } = await mesh.run(a, ['invite', '--role', 'submit'])
    const home = join(c.home, '..', `${c.home.split('/').pop()}-d`)
    d = { name: 'd', home, port: 0, peerId: '' }
    d.peerId = json(await cli(['join', token, '--listen', '/ip4/127.0.0.1/tcp/0', '--json'], { home })).peerId
    mesh.nodes.push(d)
    for (const n of [b, c, d]) await mesh.run(n, ['pause'])
    await waitFor(async () => (await mesh.api(a).peers()).length === 4, { timeoutMs: 30_000, what: 'the mesh' })
  }, 120_000)

  afterAll(async () => {
    for (const t of terms) t.kill()
    await mesh?.close()
    await (await import('node:fs/promises')).rm(d?.home ?? '/nonexistent', { recursive: true, force: true })
  })

  it('rw keys reach the job and its answer comes back; ro cannot write; no read role is refused; a resize reaches the job', async () => {
    const job = join(b.home, 'prompt.yaml')
    await writeFile(job, 'name: prompt\ntimeout: 2m\nstages:\n  - steps:\n      - echo ready; read line; echo "got:$line"; stty size; read x; echo "done-$x"\n')
    const { id } = await mesh.run(b, ['submit', job])
    await waitFor(async () => (await mesh.api(b).show(id)).state === 'running', { what: 'the job to run on a' })
    expect((await mesh.api(b).show(id)).executor).toBe(a.peerId)

    const viewer = open(c, [id])
    await viewer.see('ready')
    viewer.type('evil\r')

    // a missing role is bad input (exit 2), refused with its code
    const refused = await cli(['attach', id, '--json'], { home: d.home })
    expect(refused.code).toBe(2)
    expect(['ERR_FORBIDDEN', 'ERR_NOT_ALLOWED']).toContain(JSON.parse(refused.stderr.split('\n')[0]).error.code)

    const rw = open(b, [id, '--rw'])
    await rw.see('ready')
    rw.type('hello\r')
    await rw.see('got:hello')
    await viewer.see('got:hello')
    // the rw terminal is 100x30: the job's terminal was resized to it
    await rw.see('30 100')
    rw.type('bye\r')
    await rw.see('done-bye')
    expect(await rw.exited()).toBe(0)
    expect(await viewer.exited()).toBe(0)
    expect(viewer.text).not.toContain('done-evil')
    expect(viewer.text).not.toContain('got:evil')

    // the recording plays in the real asciinema
    const view = await waitFor(async () => { const j = await mesh.api(b).show(id); return j.state === 'succeeded' ? j : undefined }, { what: 'the job to end' })
    const cast = join(b.home, 'prompt.cast')
    expect((await cli(['fetch', String(view.log), '-o', cast], { home: b.home })).code).toBe(0)
    // asciinema wants a terminal even to print a recording: give it a real one
    let played = ''
    const player = pty.spawn('asciinema', ['cat', cast], { name: 'xterm', cols: 100, rows: 30, env: process.env as Record<string, string> })
    player.onData(d => { played += d })
    const code = await new Promise<number>(resolve => player.onExit(e => { resolve(e.exitCode) }))
    expect(code).toBe(0)
    expect(played).toContain('got:hello')
    expect(played).toContain('done-bye')
    const events = (await (await import('node:fs/promises')).readFile(cast, 'utf8')).trim().split('\n').slice(1).map(l => JSON.parse(l))
    expect(events.some(e => e[1] === 'r' && e[2] === '100x30')).toBe(true)
    expect(events.some(e => e[1] === 'm')).toBe(true)
  }, 180_000)
})
