/**
 * The mesh as a Nix binary cache, end to end: two real daemons on 127.0.0.1 with their HTTP
 * faces, and the real Nix from Debian as the client (`nix-build` and `nix-store --realise` with
 * `--option substituters http://…/nix`). The nodes and the client share this machine's one
 * /nix/store, so outputs are deleted from it before the client asks for them; every derivation
 * carries a nonce so runs never meet each other's store paths, and each client run has its own
 * narinfo cache directory.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyNixSignature } from '../../node/nix/index.js'
import { cli, waitFor } from '../helpers/cli.js'
import { http, makeHttpMesh } from '../http/helpers.js'
import type { HttpMesh, MeshNode } from '../http/helpers.js'

const NONCE = randomBytes(6).toString('hex')

interface Run { code: number | null, stdout: string, stderr: string }

/** run a Nix command, bounded in time; never throws for a non-zero exit */
function nix (args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } })
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr }
}
const ok = (args: string[]): string => {
  const r = nix(args)
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`)
  return r.stdout
}
const valid = (path: string): boolean => nix(['nix-store', '--check-validity', path]).code === 0
const hashPart = (path: string): string => path.slice('/nix/store/'.length, '/nix/store/'.length + 32)
const fields = (text: string): Record<string, string> => Object.fromEntries(text.trim().split('\n').map(l => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]))

describe('the mesh as a Nix binary cache', () => {
  let mesh: HttpMesh
  let a: MeshNode, b: MeshNode
  let pa = 0, pb = 0
  let keyA = '', keyB = ''
  let file = ''
  let out = ''
  let dep = ''
  let built: any
  const scratch: string[] = []

  /** Nix options for one client run: this substituter and key only, a fresh narinfo cache, no local builds */
  const client = async (url: string, key: string, extra: string[] = []): Promise<{ options: string[], env: NodeJS.ProcessEnv }> => {
    const cache = await mkdtemp(join(tmpdir(), 'cit-nix-client-'))
    scratch.push(cache)
    return {
      options: ['--max-jobs', '0', '--option', 'substituters', url, '--option', 'trusted-public-keys', key, '--option', 'narinfo-cache-negative-ttl', '0', ...extra],
      env: { XDG_CACHE_HOME: cache }
    }
  }
  /** take the output and its dependency out of the shared store */
  const forget = (): void => {
    for (const p of [out, dep]) if (valid(p)) ok(['nix-store', '--delete', p])
    expect(valid(out) || valid(dep)).toBe(false)
  }
  const closureBlob = (n: MeshNode, hash: string): string => join(n.home, 'blobs', 'sha256', hash.slice(0, 2), hash)

  beforeAll(async () => {
    // no Nix here is a failure, not a skip: CI installs nix-bin through .ci/deps
    expect(ok(['nix-store', '--version'])).toMatch(/Nix/)
    mesh = await makeHttpMesh(2)
    ;[a, b] = mesh.nodes
    ;[pa, pb] = mesh.ports
    // b never builds: everything it serves it fetched from a
    await mesh.run(b, ['pause'])
    for (const n of mesh.nodes) await waitFor(async () => (await mesh.api(n).peers()).length === 2, { timeoutMs: 30_000, what: 'the mesh' })
    ;[keyA, keyB] = await Promise.all(mesh.nodes.map(async n => await waitFor(async () => (await mesh.api(n).status()).nixCacheKey ?? undefined, { what: `${n.name}'s cache key` })))
    file = join(a.home, 'cached-cit.nix')
    await writeFile(file, `let dep = derivation { name = "dep-cit"; system = builtins.currentSystem; builder = "/bin/sh"; nonce = "${NONCE}";
      args = [ "-c" "/bin/mkdir $out; echo dependency ${NONCE} > $out/text; /bin/ln -s text $out/link" ]; };
    in derivation { name = "cached-cit"; system = builtins.currentSystem; builder = "/bin/sh"; nonce = "${NONCE}";
      args = [ "-c" "echo building cached-cit; echo \${dep} > $out" ]; }\n`)
  }, 120_000)
  afterAll(async () => {
    await mesh?.close()
    for (const d of scratch) await rm(d, { recursive: true, force: true })
  })

  it('each node has its own signing key, in its home with mode 0600, shown by status', async () => {
    expect(keyA).toMatch(new RegExp(`^cit-${a.peerId}:[A-Za-z0-9+/]{43}=$`))
    expect(keyB).toMatch(new RegExp(`^cit-${b.peerId}:`))
    expect(keyA).not.toBe(keyB)
    expect((await stat(join(a.home, 'nix-cache.secret'))).mode & 0o777).toBe(0o600)
    expect((await readFile(join(a.home, 'nix-cache.public'), 'utf8')).trim()).toBe(keyA)
    expect((await cli(['status'], { home: b.home })).stdout).toContain(`nix key  ${keyB}`)
  })

  it('an output built on a is substituted by nix-build through b\'s cache: b fetches its closure from a', async () => {
    const sub = await mesh.run(a, ['submit', '--nix', file])
    built = await waitFor(async () => { const j = await mesh.api(a).show(sub.id); return j.state === 'succeeded' ? j : undefined }, { timeoutMs: 60_000, what: 'the build on a' })
    expect(built.executor).toBe(a.peerId)
    out = built.nix.outputs[0].path
    dep = ok(['nix-store', '--query', '--references', out])
    expect(dep).toMatch(/-dep-cit$/)
    const closure = built.nix.outputs[0].closure
    // the result reaches b; the closure itself stays on a until someone asks b for it
    await waitFor(async () => (await mesh.api(b).show(sub.id)).state === 'succeeded', { what: 'the result on b' })
    expect(existsSync(closureBlob(b, closure))).toBe(false)
    forget()
    const c = await client(`http://127.0.0.1:${pb}/nix`, keyB)
    const r = nix(['nix-build', file, '--no-out-link', ...c.options], c.env)
    expect(r.stderr).not.toContain('building cached-cit')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(out)
    expect(await readFile(out, 'utf8')).toBe(`${dep}\n`)
    expect(await readFile(join(dep, 'link'), 'utf8')).toBe(`dependency ${NONCE}\n`)
    expect(ok(['nix-store', '--query', '--hash', out])).toBe(built.nix.outputs[0].narHash)
    // what b served it read from the closure it fetched from a
    expect(existsSync(closureBlob(b, closure))).toBe(true)
    // Nix recorded where the paths came from, and b's signature on them
    const info = JSON.parse(ok(['nix', '--extra-experimental-features', 'nix-command', 'path-info', '--json', '--sigs', out]))
    expect(info[0].signatures).toContain(fields((await http(pb, 'GET', `/nix/${hashPart(out)}.narinfo`)).text).Sig)
  }, 180_000)

  it('nix-store --realise with b\'s cache but only a\'s key trusted: refused for its signature; with b\'s key: realised', async () => {
    forget()
    const wrong = await client(`http://127.0.0.1:${pb}/nix`, keyA)
    const r = nix(['nix-store', '--realise', out, ...wrong.options], wrong.env)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/is not signed by any of the keys in 'trusted-public-keys'/)
    expect(valid(out)).toBe(false)
    const right = await client(`http://127.0.0.1:${pb}/nix`, keyB)
    const ok2 = nix(['nix-store', '--realise', out, ...right.options], right.env)
    expect(ok2.code, ok2.stderr).toBe(0)
    expect(await readFile(out, 'utf8')).toBe(`${dep}\n`)
  }, 120_000)

  it('answers the cache layout Nix expects, each node signing with its own key; unknown 404, malformed 400', async () => {
    const info = await http(pb, 'GET', '/nix/nix-cache-info')
    expect(info.status).toBe(200)
    expect(info.headers['content-type']).toMatch(/^text\/x-nix-cache-info/)
    expect(info.text).toContain('StoreDir: /nix/store\n')
    for (const [port, key] of [[pa, keyA], [pb, keyB]] as const) {
      const res = await http(port, 'GET', `/nix/${hashPart(out)}.narinfo`)
      expect(res.status).toBe(200)
      const f = fields(res.text)
      expect(f).toMatchObject({ StorePath: out, NarHash: built.nix.outputs[0].narHash, References: dep.slice('/nix/store/'.length), Compression: 'none' })
      expect(verifyNixSignature(key, `1;${out};${f.NarHash};${f.NarSize};${dep}`, f.Sig)).toBe(true)
      const nar = await http(port, 'GET', `/nix/${f.URL}`)
      expect(nar.status).toBe(200)
      expect(nar.body.equals(spawnSync('nix-store', ['--dump', out]).stdout)).toBe(true)
    }
    const unknown = await http(pb, 'GET', `/nix/${'0'.repeat(32)}.narinfo`)
    expect(unknown.status).toBe(404)
    expect(unknown.json().code).toBe('ERR_NIX_PATH_NOT_FOUND')
    expect((await http(pb, 'GET', `/nix/nar/${'0'.repeat(52)}-${built.nix.outputs[0].closure}.nar`)).json().code).toBe('ERR_NIX_PATH_NOT_FOUND')
    const bad = await http(pb, 'GET', '/nix/..%2F..%2Fetc%2Fpasswd.narinfo')
    expect(bad.status).toBe(400)
    expect(bad.json().code).toBe('ERR_INVALID_HASH')
    // a blob that is no Nix result's closure is never served as a NAR
    expect((await http(pb, 'GET', `/nix/nar/${'0'.repeat(52)}-${built.log as string}.nar`)).status).toBe(404)
    // read-only: no route writes
    expect((await http(pb, 'PUT', `/nix/${hashPart(out)}.narinfo`, { raw: 'StorePath: /nix/store/x' })).status).toBe(404)
  }, 60_000)

  it('from another host name the cache needs a read token, which Nix sends from its netrc file', async () => {
    const url = `http://cit.localhost:${pb}/nix`
    const host = { host: `cit.localhost:${pb}` }
    expect((await http(pb, 'GET', '/nix/nix-cache-info', { headers: host })).status).toBe(401)
    const { token } = await mesh.run(b, ['token', 'create', '--role', 'read'])
    const basic = (t: string): string => `Basic ${Buffer.from(`nix:${t}`).toString('base64')}`
    expect((await http(pb, 'GET', '/nix/nix-cache-info', { headers: { ...host, authorization: basic(token) } })).status).toBe(200)
    expect((await http(pb, 'GET', '/nix/nix-cache-info', { headers: { ...host, authorization: basic(`${token.slice(0, -2)}xx`) } })).status).toBe(401)
    // Basic credentials (which a browser may send by itself) never authorise a write
    const { token: submit } = await mesh.run(b, ['token', 'create', '--role', 'submit'])
    const write = await http(pb, 'POST', '/api/v1/jobs', { headers: { authorization: basic(submit) }, body: { spec: { name: 'x', stages: [{ steps: [{ command: 'true' }] }] } } })
    expect(write.status).toBe(401)
    expect(write.json().code).toBe('ERR_UNAUTHORIZED')
    forget()
    const without = await client(url, keyB)
    const r = nix(['nix-store', '--realise', out, ...without.options], without.env)
    expect(r.code).not.toBe(0)
    // its nix-cache-info was refused (401): Nix does not take it for a cache at all
    expect(r.stderr).toMatch(/does not appear to be a binary cache/)
    expect(valid(out)).toBe(false)
    const netrc = join(without.env.XDG_CACHE_HOME!, 'netrc')
    await writeFile(netrc, `machine cit.localhost login nix password ${token as string}\n`, { mode: 0o600 })
    const withToken = await client(url, keyB, ['--option', 'netrc-file', netrc])
    const r2 = nix(['nix-store', '--realise', out, ...withToken.options], withToken.env)
    expect(r2.code, r2.stderr).toBe(0)
    expect(await readFile(out, 'utf8')).toBe(`${dep}\n`)
  }, 120_000)
})
