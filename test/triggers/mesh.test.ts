import { afterAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { jobFile, makeRepo } from './helpers.js'
import type { TestMesh } from '../helpers/mesh.js'
import type { TestRepo } from './helpers.js'

describe('repositories and build numbers across the mesh', () => {
  let mesh: TestMesh | undefined
  let repo: TestRepo | undefined
  afterAll(async () => {
    await mesh?.close()
    await repo?.cleanup()
  })

  it('a repository added on one member is known to the other, which builds its pushes; removal spreads too; build numbers increase across two submitting nodes', async () => {
    repo = await makeRepo()
    const r = repo
    mesh = await makeMesh(2, { config: () => ({ sandbox: { readOnlyPaths: [r.dir] } }) })
    const [a, b] = mesh.nodes
    const m = mesh
    await m.run(a, ['repo', 'add', 'libfoo', '--url', r.bare, '--branches', 'main,release/*'])
    const seen = await waitFor(async () => (await m.run(b, ['repo', 'list'])).find((x: any) => x.name === 'libfoo'), { timeoutMs: 30_000, what: 'the repository record on the other member' })
    expect(seen).toMatchObject({ url: r.bare, job: '.cit.yaml', branches: ['main', 'release/*'], signer: a.peerId, hasSecret: false })

    // b builds a push it is told of, with the record a signed
    const commit = await r.commit({ '.cit.yaml': jobFile('libfoo'), 'version.txt': 'mesh\n' })
    r.push('main')
    const first = await m.run(b, ['trigger', 'libfoo', '--commit', commit, '--ref', 'refs/heads/main', '--wait'])
    expect(first[0].jobs).toHaveLength(1)
    const done = await waitFor(async () => {
      const v = await m.run(b, ['show', 'libfoo_main'])
      return v.state === 'succeeded' ? v : undefined
    }, { timeoutMs: 60_000, what: 'the triggered job' })
    expect(done).toMatchObject({ build: 1, source: { commit, branch: 'main' } })
    // a branch the record does not name builds nothing
    const other = await m.run(b, ['trigger', 'libfoo', '--commit', commit, '--ref', 'refs/heads/wip', '--wait'])
    expect(other[0]).toMatchObject({ jobs: [] })
    expect(other[0].skipped).toContain('wip')

    // the next run of the name, submitted on the other node, takes the next number
    await waitFor(async () => (await m.run(a, ['jobs'])).some((j: any) => j.id === done.id), { timeoutMs: 30_000, what: 'the first job on a' })
    const second = await m.run(a, ['trigger', 'libfoo', '--commit', commit, '--ref', 'refs/heads/main', '--wait'])
    const secondView = await m.run(a, ['show', second[0].jobs[0].id])
    expect(secondView.build).toBe(2)
    await waitFor(async () => (await m.run(b, ['show', secondView.id])).build === 2, { timeoutMs: 30_000, what: 'the build number on b' })
    const listed = await m.run(b, ['jobs'])
    expect(listed.filter((j: any) => j.name === 'libfoo_main').map((j: any) => j.build).sort()).toEqual([1, 2])

    await m.run(b, ['repo', 'remove', 'libfoo'])
    await waitFor(async () => (await m.run(a, ['repo', 'list'])).length === 0, { timeoutMs: 30_000, what: 'the removal on a' })
  }, 240_000)
})
