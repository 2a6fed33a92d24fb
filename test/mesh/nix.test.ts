/**
 * Nix jobs and provenance across three real daemons on 127.0.0.1 with the real Nix from Debian
 * (nix-bin, single-user as root). The nodes share this machine's one /nix/store, so paths are
 * deleted locally where a test needs a node to lack them; every derivation carries a nonce so
 * runs never meet each other's store paths.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

const NONCE = randomBytes(6).toString('hex')

/** a derivation that needs nothing from outside: /bin/sh writes its output */
function derivation (name: string, text: string): string {
  return `derivation {
  name = "${name}";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo building ${name}; echo '${text}' > $out" ];
  nonce = "${NONCE}";
}
`
}

function nix (args: string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

function valid (path: string): boolean {
  try { nix(['nix-store', '--check-validity', path]); return true } catch { return false }
}

describe('Nix jobs: the mesh as the binary cache, and provenance anyone can verify', () => {
  let mesh: TestMesh
  let a: MeshNode, b: MeshNode, c: MeshNode
  let dir = ''
  let built: any

  const file = async (name: string, body: string): Promise<string> => {
    const p = join(dir, name)
    await writeFile(p, body)
    return p
  }
  const waitState = async (n: MeshNode, id: string, state: string): Promise<any> =>
    await waitFor(async () => { const j = await mesh.api(n).show(id); return j.state === state ? j : undefined }, { timeoutMs: 60_000, what: `job ${id} ${state} on ${n.name}` })

  beforeAll(async () => {
    // no Nix here is a failure, not a skip: CI installs nix-bin through .ci/deps
    expect(nix(['nix-store', '--version'])).toMatch(/Nix/)
    mesh = await makeMesh(3)
    ;[a, b, c] = mesh.nodes
    dir = a.home
    for (const n of mesh.nodes) await mesh.run(n, ['pause'])
    for (const n of mesh.nodes) {
      await waitFor(async () => (await mesh.api(n).peers()).length === 3, { timeoutMs: 30_000, what: 'the mesh' })
    }
  }, 120_000)
  afterAll(async () => { await mesh?.close() })

  it('every node with Nix offers the nix label by itself', async () => {
    for (const n of mesh.nodes) expect((await mesh.run(n, ['status'])).labels).toContain('nix')
  })

  it('hello-cit.nix submitted on a is built on b (which fetches the derivation from a) and nix import on c gives the right store path', async () => {
    const hello = await file('hello-cit.nix', derivation('hello-cit', `hello from the mesh ${NONCE}`))
    const sub = await mesh.run(a, ['submit', '--nix', hello])
    expect(sub.name).toBe('hello-cit')
    const queued = await mesh.api(a).show(sub.id)
    expect(queued.nix?.drv).toBe(sub.drv)
    // b must import the derivation from the closure a exported: take it out of the shared store
    nix(['nix-store', '--delete', sub.drv])
    expect(valid(sub.drv)).toBe(false)
    await mesh.run(b, ['resume'])
    built = await waitState(c, sub.id, 'succeeded')
    await mesh.run(b, ['pause'])
    expect(built.executor).toBe(b.peerId)
    expect(built.nix.drv).toBe(sub.drv)
    expect(built.nix.outputs).toHaveLength(1)
    const out = built.nix.outputs[0]
    expect(out.name).toBe('out')
    expect(out.narHash).toBe(nix(['nix-store', '--query', '--hash', out.path]))
    const log = await cli(['logs', sub.id], { home: c.home })
    expect(log.stdout).toMatch(/fetching the derivation's closure [0-9a-f]{64}/)
    expect(log.stdout).toContain('imported 1 store path')
    expect(log.stdout).toContain('building hello-cit')
    // c gets the output from b by its closure's hash
    nix(['nix-store', '--delete', out.path])
    expect(valid(out.path)).toBe(false)
    const imported = await mesh.run(c, ['nix', 'import', sub.id])
    expect(imported.outputs[0]).toMatchObject({ path: out.path, imported: true, closure: out.closure })
    expect(valid(out.path)).toBe(true)
    expect(await readFile(out.path, 'utf8')).toBe(`hello from the mesh ${NONCE}\n`)
    expect(nix(['nix-store', '--query', '--hash', out.path])).toBe(out.narHash)
  }, 180_000)

  it('a closure blob whose bytes do not hash to its name is refused on import; the next import fetches a good copy', async () => {
    const out = built.nix.outputs[0]
    nix(['nix-store', '--delete', out.path])
    // c holds tampered bytes under the closure's name
    const blobPath = join(c.home, 'blobs', 'sha256', out.closure.slice(0, 2), out.closure)
    const good = await readFile(blobPath)
    const bad = Buffer.from(good)
    bad[bad.length - 20] ^= 0xff
    await writeFile(blobPath, bad)
    const r = await cli(['nix', 'import', out.closure], { home: c.home })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/refused/)
    expect(valid(out.path)).toBe(false)
    // the corrupt copy was quarantined: this time the bytes come from b, verified
    const again = await mesh.run(c, ['nix', 'import', out.closure])
    expect(again.outputs[0].imported).toBe(true)
    expect(await readFile(out.path, 'utf8')).toBe(`hello from the mesh ${NONCE}\n`)
  }, 120_000)

  it('a second submission of the same file while the first waits replaces it', async () => {
    const waiting = await file('waiting-cit.nix', derivation('waiting-cit', `waiting ${NONCE}`))
    const first = await mesh.run(a, ['submit', '--nix', waiting])
    expect((await mesh.api(a).show(first.id)).state).toBe('queued')
    const second = await mesh.run(a, ['submit', '--nix', waiting])
    expect(second.name).toBe('waiting-cit')
    const replaced = await waitState(a, first.id, 'superseded')
    expect(replaced.reason).toContain(second.id)
    await mesh.run(b, ['resume'])
    const done = await waitState(a, second.id, 'succeeded')
    await mesh.run(b, ['pause'])
    expect(done.nix.outputs[0].path).toMatch(/-waiting-cit$/)
  }, 120_000)

  it('a .nix file that does not evaluate, or gives two derivations, exits 2 and queues nothing', async () => {
    const before = (await mesh.api(a).list()).length
    const broken = await file('broken.nix', 'derivation { name = "broken"; system = builtins.currentSystem; builder = /bin/sh; args = [ ')
    const r = await cli(['submit', '--nix', broken], { home: a.home })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/broken\.nix/)
    expect(r.stderr).toMatch(/error/i)
    const two = await file('two.nix', `[ (${derivation('one-cit', 'one').trim()}) (${derivation('two-cit', 'two').trim()}) ]`)
    const fine = await file('fine-cit.nix', derivation('fine-cit', 'fine'))
    // a good file given with a bad one is not queued either
    const r2 = await cli(['submit', '--nix', fine, two], { home: a.home })
    expect(r2.code).toBe(2)
    expect(r2.stderr).toMatch(/exactly one derivation/)
    expect((await mesh.api(a).list()).length).toBe(before)
  }, 60_000)

  it('verify of an output prints the submitter and the builder and exits 0; a tampered statement exits non-zero', async () => {
    const out = built.nix.outputs[0]
    const r = await cli(['verify', out.closure], { home: c.home })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`submitter  ${a.peerId}`)
    expect(r.stdout).toContain(`builder    ${b.peerId}`)
    expect(r.stdout).toMatch(/commit {5}- {2}\(not made by a trigger\)/)
    expect(r.stdout).toContain(built.nix.drv)
    const json = await mesh.run(c, ['verify', built.log])
    expect(json.predicateType).toBe('https://slsa.dev/provenance/v1')
    expect(json._type).toBe('https://in-toto.io/Statement/v1')
    expect(json.subject).toContainEqual(expect.objectContaining({ name: out.path, digest: { sha256: out.closure } }))
    expect(json.verified[0]).toEqual({ keyid: b.peerId, as: 'builder', ok: true })
    // counter-signed: a majority of the job's acceptors voted for this result
    const acceptors = json.verified.filter((v: { as: string }) => v.as === 'acceptor')
    expect(acceptors.length).toBeGreaterThanOrEqual(2)
    expect(acceptors.every((v: { ok: boolean }) => v.ok)).toBe(true)
    expect(json.ok).toBe(true)
    expect(json.predicate.buildDefinition.internalParameters.epoch).toBeGreaterThan(0)
    // the statement as anyone may hand it over, with one field changed
    const stmt = join(c.home, 'statement.json')
    expect((await cli(['fetch', built.provenance, '-o', stmt], { home: c.home })).code).toBe(0)
    const envelope = JSON.parse(await readFile(stmt, 'utf8'))
    const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'))
    payload.predicate.buildDefinition.externalParameters.submitter = c.peerId
    envelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64')
    await writeFile(stmt, JSON.stringify(envelope))
    const tampered = await cli(['verify', out.closure, '--statement', stmt, '--json'], { home: c.home })
    expect(tampered.code).toBe(1)
    const report = JSON.parse(tampered.stdout)
    expect(report.ok).toBe(false)
    expect(report.verified[0]).toMatchObject({ keyid: b.peerId, as: 'builder', ok: false })
    expect(report.verified[0].problem).toMatch(/^wrong/)
    // a statement without its builder's signature says that it is missing
    envelope.signatures = []
    await writeFile(stmt, JSON.stringify(envelope))
    const unsigned = await cli(['verify', out.closure, '--statement', stmt], { home: c.home })
    expect(unsigned.code).toBe(1)
    expect(unsigned.stderr).toMatch(/missing/)
  }, 120_000)

  it('verify --rebuild re-runs a job on another member: matching outputs are co-signed, differing ones are reported', async () => {
    const same = await file('same.yaml', 'name: same\ncache: true\nartefacts: [out.txt]\nstages:\n  - steps:\n      - echo reproducible > out.txt\n')
    const { id } = await mesh.run(a, ['submit', same])
    await mesh.run(b, ['resume'])
    const first = await waitState(a, id, 'succeeded')
    await mesh.run(b, ['pause'])
    expect(first.executor).toBe(b.peerId)
    // b built it: the rebuild must go elsewhere, and c is the only other member claiming
    await mesh.run(c, ['resume'])
    const r = await cli(['verify', '--rebuild', id], { home: a.home, timeoutMs: 90_000 })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^reproduced/)
    const art = first.artefacts[0].sha256
    const report = await waitFor(async () => {
      const v = await mesh.run(a, ['verify', art])
      return v.verified.some((x: { as: string }) => x.as === 'rebuilder') ? v : undefined
    }, { what: 'the co-signature on a' })
    expect(report.ok).toBe(true)
    expect(report.verified).toContainEqual(expect.objectContaining({ keyid: c.peerId, as: 'rebuilder', ok: true }))
    const other = await file('other.yaml', 'name: other\nartefacts: [out.txt]\nstages:\n  - steps:\n      - date +%s%N > out.txt\n')
    await mesh.run(c, ['pause'])
    const o = await mesh.run(a, ['submit', other])
    await mesh.run(b, ['resume'])
    expect((await waitState(a, o.id, 'succeeded')).executor).toBe(b.peerId)
    await mesh.run(b, ['pause'])
    await mesh.run(c, ['resume'])
    const differs = await cli(['verify', '--rebuild', o.id], { home: a.home, timeoutMs: 90_000 })
    await mesh.run(c, ['pause'])
    expect(differs.code).toBe(1)
    expect(differs.stdout).toMatch(/NOT reproduced: out\.txt/)
  }, 240_000)

  it('after the builder\'s key is revoked, verify says so and exits non-zero', async () => {
    await mesh.run(a, ['trust', 'revoke', b.peerId])
    const out = built.nix.outputs[0]
    const r = await waitFor(async () => {
      const res = await cli(['verify', out.closure, '--json'], { home: c.home })
      return res.code === 1 ? res : undefined
    }, { timeoutMs: 30_000, what: 'the revocation to reach c' })
    const report = JSON.parse(r.stdout)
    expect(report.verified[0]).toMatchObject({ keyid: b.peerId, as: 'builder', ok: false })
    expect(report.verified[0].problem).toMatch(/^revoked/)
  }, 60_000)
})
