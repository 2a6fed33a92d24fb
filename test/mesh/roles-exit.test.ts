import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { EXIT } from '../../node/error-codes.js'
import type { CliResult } from '../helpers/cli.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

const errorOf = (r: CliResult): { code: string, message: string, hint?: string } => JSON.parse(r.stderr.trim().split('\n')[0]).error

describe('a missing role is exit 2 with its reason; a revoked node knows it is revoked', () => {
  let mesh: TestMesh
  let a: MeshNode, b: MeshNode

  beforeAll(async () => {
    mesh = await makeMesh(2)
    ;[a, b] = mesh.nodes
    await mesh.run(b, ['pause'])
    await waitFor(async () => (await mesh.api(b).peers()).length === 2, { timeoutMs: 30_000, what: 'the mesh' })
  }, 120_000)

  afterAll(async () => { await mesh?.close() })

  it('attach --rw to a job this node neither submitted nor administers: exit 2, the reason named', async () => {
    const file = join(a.home, 'long.yaml')
    await writeFile(file, 'name: long\ntimeout: 2m\nstages:\n  - steps:\n      - echo up; sleep 60\n')
    const { id } = await mesh.run(a, ['submit', file])
    await waitFor(async () => (await mesh.api(b).show(id)).state === 'running', { timeoutMs: 30_000, what: 'the job to run' })
    const r = await cli(['attach', id, '--rw', '--json'], { home: b.home })
    expect(r.code).toBe(EXIT.USAGE)
    const e = errorOf(r)
    expect(['ERR_NOT_ALLOWED', 'ERR_FORBIDDEN']).toContain(e.code)
    expect(e.message).toMatch(/submitter|admin/)
    const plain = await cli(['attach', id, '--rw'], { home: b.home })
    expect(plain.code).toBe(EXIT.USAGE)
    expect(plain.stderr.trim().split('\n')).toHaveLength(1)
    await mesh.run(a, ['cancel', id])
  }, 180_000)

  it('cancel of a job this node neither submitted nor administers: exit 2, nothing recorded here or anywhere', async () => {
    const file = join(a.home, 'not-yours.yaml')
    await writeFile(file, 'name: not-yours\ntimeout: 2m\nstages:\n  - steps:\n      - echo up; sleep 60\n')
    const { id } = await mesh.run(a, ['submit', file])
    await waitFor(async () => (await mesh.api(b).show(id).catch(() => undefined))?.state === 'running' ? true : undefined, { timeoutMs: 30_000, what: 'b to see the job run' })
    const r = await cli(['cancel', id, '--json'], { home: b.home })
    expect(r.code).toBe(EXIT.USAGE)
    const e = errorOf(r)
    expect(e.code).toBe('ERR_FORBIDDEN')
    expect(e.message).toMatch(/submitter.*admin/)
    const plain = await cli(['cancel', id], { home: b.home })
    expect(plain.code).toBe(EXIT.USAGE)
    expect(plain.stderr).toMatch(/only the job's submitter/)
    // b recorded nothing: its row still runs, and no event of b's reached a
    const here = await mesh.api(b).show(id)
    expect(here.state).toBe('running')
    expect(here.events.filter((ev: any) => ev.by === b.peerId)).toEqual([])
    expect((await mesh.api(a).show(id)).events.filter((ev: any) => ev.by === b.peerId)).toEqual([])
    await mesh.run(a, ['cancel', id])
    await waitFor(async () => (await mesh.api(b).show(id)).state === 'cancelled' ? true : undefined, { timeoutMs: 30_000, what: 'the submitter\'s cancel to reach b' })
  }, 180_000)

  it('after trust revoke, the node\'s own status says revoked, and the others list it as revoked', async () => {
    await mesh.run(a, ['trust', 'revoke', b.peerId])
    const own = await waitFor(async () => { const s = await mesh.api(b).status(); return s.state === 'revoked' ? s : undefined }, { timeoutMs: 30_000, what: 'b to know it is revoked' })
    expect(own.roles).toEqual([])
    const seen = await waitFor(async () => (await mesh.api(a).peers()).find(p => p.peerId === b.peerId && p.state === 'revoked'), { timeoutMs: 30_000, what: 'a to list b as revoked' })
    expect(seen.state).toBe('revoked')
    const human = await cli(['status'], { home: b.home })
    expect(human.stdout).toMatch(/^state\s+revoked/m)
  }, 180_000)
})
