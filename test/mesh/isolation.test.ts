/**
 * A member whose jobs would run without a sandbox (isolation `none`) does not take other members'
 * jobs, unless its config says `allowUnisolated: true`; its own jobs it still runs. Three real
 * daemons on 127.0.0.1: n0 sandboxes, n1 and n2 have the sandbox turned off, n2 allows it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { allPeersFresh } from '../chaos/helpers.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

describe('a member without a sandbox', () => {
  let mesh: TestMesh
  let files: string
  let sandboxed: MeshNode, strict: MeshNode, lenient: MeshNode

  beforeAll(async () => {
    files = await mkdtemp(join(tmpdir(), 'cit-iso-'))
    mesh = await makeMesh(3, {
      config: i => [{}, { sandbox: { enabled: false } }, { sandbox: { enabled: false }, allowUnisolated: true }][i]
    })
    ;[sandboxed, strict, lenient] = mesh.nodes
    // every node hears every other before the test relies on who may claim
    await allPeersFresh(mesh)
  }, 180_000)
  afterAll(async () => {
    await mesh?.close()
    await rm(files, { recursive: true, force: true })
  })

  const submit = async (n: MeshNode, name: string): Promise<string> => {
    const file = join(files, `${name}.yaml`)
    await writeFile(file, `name: ${name}\nstages:\n  - steps:\n      - echo ran-${name}\n`)
    return (await mesh.run(n, ['submit', file])).id
  }
  const finished = async (n: MeshNode, id: string): Promise<any> => await waitFor(async () => {
    const j = await mesh.api(n).show(id)
    return j.state === 'succeeded' || j.state === 'failed' ? j : undefined
  }, { timeoutMs: 60_000, what: `job ${id.slice(0, 8)} to finish` })

  it('each node says how it isolates jobs', async () => {
    expect((await mesh.run(sandboxed, ['status'])).isolation).toBe('sandbox')
    expect((await mesh.run(strict, ['status'])).isolation).toBe('none')
    expect((await mesh.run(lenient, ['status'])).isolation).toBe('none')
  })

  it('does not claim another member\'s job; a node whose config allows it does', async () => {
    await mesh.run(sandboxed, ['pause'])
    await mesh.run(lenient, ['pause'])
    const id = await submit(sandboxed, 'foreign')
    // the only active node has no sandbox: for as long as many claim rounds, nobody takes it
    const until = Date.now() + 6000
    while (Date.now() < until) {
      const j = await mesh.api(strict).show(id).catch(() => undefined)
      if (j != null) expect(j.state).toBe('queued')
      // a deliberate fixed pause: this loop proves nothing happens for 6 s, so it must not end early
      await new Promise(resolve => setTimeout(resolve, 300))
    }
    expect((await mesh.api(sandboxed).show(id)).state).toBe('queued')
    await mesh.run(lenient, ['resume'])
    const job = await finished(sandboxed, id)
    expect(job.state).toBe('succeeded')
    expect(job.executor).toBe(lenient.peerId)
  })

  it('still runs its own jobs', async () => {
    await mesh.run(lenient, ['pause'])
    const id = await submit(strict, 'own')
    const job = await finished(strict, id)
    expect(job.state).toBe('succeeded')
    expect(job.executor).toBe(strict.peerId)
  })
})
