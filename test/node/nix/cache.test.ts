/**
 * The binary cache's parts with the real Nix from Debian and a real blob store: the export
 * reader against what `nix-store` says of the same paths, malformed exports, the signing key's
 * files, and NixCache's narinfo and NAR answers (the jobs behind it are rows in memory: a seam).
 */
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { readFile, stat, writeFile, chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FsBlobStore } from '../../../store/blobs/index.js'
import { silentLogger } from '../../../store/logger.js'
import {
  CacheKey, CACHE_PUBLIC_FILE, CACHE_SECRET_FILE, NixCache, NixTool, exportClosure, readExport, toNixBase32, verifyNixSignature
} from '../../../node/nix/index.js'
import { tempHome } from '../../helpers/cli.js'
import type { JobRow } from '../../../node/jobs/types.js'

const NONCE = randomBytes(6).toString('hex')

function sh (args: string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

/** bytes of an export, written by hand */
const u64 = (n: number | bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b }
const str = (s: string | Buffer, pad = 0): Buffer => {
  const bytes = Buffer.from(s)
  const padding = Buffer.alloc((8 - (bytes.length % 8)) % 8, pad)
  return Buffer.concat([u64(bytes.length), bytes, padding])
}
const regular = (contents: string): Buffer => Buffer.concat(['(', 'type', 'regular', 'contents'].map(s => str(s)).concat([str(contents), str(')')]))
const nar = (node: Buffer): Buffer => Buffer.concat([str('nix-archive-1'), node])
const PATH = `/nix/store/${'a'.repeat(32)}-handmade`
const entry = (n: Buffer, path = PATH, refs: string[] = []): Buffer =>
  Buffer.concat([u64(1), n, u64(0x4558494e), str(path), u64(refs.length), ...refs.map(r => str(r)), str(''), u64(0)])
const exportOf = (...entries: Buffer[]): Buffer => Buffer.concat([...entries, u64(0)])
async function * chunks (b: Buffer, size = 5): AsyncGenerator<Uint8Array> { for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size) }

describe('the binary cache parts', () => {
  let t: { dir: string, cleanup: () => Promise<void> }
  let blobs: FsBlobStore
  const tool = new NixTool()
  let top = ''
  let dep = ''
  let closure = ''

  beforeAll(async () => {
    expect(await tool.version()).toMatch(/^\d/)
    t = await tempHome('cit-nixc-')
    blobs = new FsBlobStore({}, { dir: join(t.dir, 'blobs') })
    await blobs.start()
    // a dependency with a directory, a symlink and an executable; the top path refers to it
    const file = join(t.dir, 'two.nix')
    await writeFile(file, `let dep = derivation { name = "dep-cit"; system = builtins.currentSystem; builder = "/bin/sh"; nonce = "${NONCE}";
      args = [ "-c" "/bin/mkdir -p $out/sub; echo dep > $out/sub/a; echo b > $out/b; /bin/ln -s sub/a $out/link; echo '#!/bin/sh' > $out/x; /bin/chmod +x $out/x" ]; };
    in derivation { name = "top-cit"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo \${dep} > $out" ]; nonce = "${NONCE}"; }\n`)
    top = sh(['nix-build', file, '--no-out-link'])
    dep = sh(['nix-store', '--query', '--references', top])
    closure = (await exportClosure(tool, blobs, [top], join(t.dir, 'tmp'))).hash
  }, 60_000)
  afterAll(async () => { await blobs?.stop(); await t?.cleanup() })

  it('reads an export as Nix wrote it: NAR hash, size, references and deriver of every path, and each NAR as `nix-store --dump` gives it', async () => {
    const bytes = await readFile(blobs.pathOf(closure))
    const entries = await readExport(chunks(bytes, 7))
    expect(entries.map(e => e.path).sort()).toEqual([dep, top].sort())
    for (const e of entries) {
      expect(e.narHash).toBe(sh(['nix-store', '--query', '--hash', e.path]))
      expect(e.narSize).toBe(Number(sh(['nix-store', '--query', '--size', e.path])))
      expect(e.deriver).toBe(sh(['nix-store', '--query', '--deriver', e.path]))
      const dump = execFileSync('nix-store', ['--dump', e.path])
      expect(bytes.subarray(e.narOffset, e.narOffset + e.narSize).equals(dump)).toBe(true)
    }
    expect(entries.find(e => e.path === top)?.references).toEqual([dep])
  })

  it('writes hashes in Nix base32 as nix-hash does', () => {
    const digest = createHash('sha256').update('cit').digest()
    expect(toNixBase32(digest)).toBe(sh(['nix-hash', '--type', 'sha256', '--to-base32', digest.toString('hex')]))
  })

  it('refuses malformed exports with ERR_NIX_CLOSURE: truncated, bad padding, trailing bytes, huge lengths, bad paths, deep or unsorted directories', async () => {
    const good = exportOf(entry(nar(regular('hello\n'))))
    expect(await readExport(chunks(good))).toHaveLength(1)
    const deep = (n: number): Buffer => n === 0
      ? regular('x')
      : Buffer.concat([str('('), str('type'), str('directory'), str('entry'), str('('), str('name'), str('d'), str('node'), deep(n - 1), str(')'), str(')')])
    const unsorted = Buffer.concat([str('('), str('type'), str('directory'),
      ...['b', 'a'].flatMap(n => [str('entry'), str('('), str('name'), str(n), str('node'), regular(n), str(')')]), str(')')])
    const cases: Array<[string, Buffer]> = [
      ['truncated', good.subarray(0, good.length - 12)],
      ['bad padding', exportOf(entry(Buffer.concat([str('nix-archive-1', 1), regular('x')])))],
      ['trailing bytes', Buffer.concat([good, Buffer.from('more')])],
      ['a huge length', Buffer.concat([u64(1), u64(0xffffffffffffn)])],
      ['an integer beyond 2^53', Buffer.concat([u64(1n << 60n)])],
      ['no magic', Buffer.concat([u64(1), nar(regular('x')), u64(7)])],
      ['a path with ..', exportOf(entry(nar(regular('x')), '/nix/store/../etc/passwd'))],
      ['an option for a path', exportOf(entry(nar(regular('x')), '--delete'))],
      ['the same path twice', exportOf(entry(nar(regular('x'))), entry(nar(regular('y'))))],
      ['a bad reference', exportOf(entry(nar(regular('x')), PATH, ['/etc/passwd']))],
      ['an unknown node type', exportOf(entry(nar(Buffer.concat([str('('), str('type'), str('fifo'), str(')')]))))],
      ['deep directories', exportOf(entry(nar(deep(300))))],
      ['unsorted entries', exportOf(entry(nar(unsorted)))],
      ['a directory entry named ..', exportOf(entry(nar(Buffer.concat([str('('), str('type'), str('directory'), str('entry'), str('('), str('name'), str('..'), str('node'), regular('x'), str(')'), str(')')]))))],
      ['a start other than 1', Buffer.concat([u64(2)])]
    ]
    for (const [what, bytes] of cases) {
      await expect(readExport(chunks(bytes)), what).rejects.toMatchObject({ code: 'ERR_NIX_CLOSURE' })
    }
  })

  it('random damage to a real export is refused or read, never anything else', async () => {
    const bytes = await readFile(blobs.pathOf(closure))
    let seed = 17
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    for (let i = 0; i < 300; i++) {
      const bad = Buffer.from(bytes)
      for (let k = 0; k <= rand(3); k++) bad[rand(bad.length)] = rand(256)
      const cut = rand(4) === 0 ? bad.subarray(0, rand(bad.length)) : bad
      await readExport(chunks(cut, 64)).catch((err: any) => { expect(err.code).toBe('ERR_NIX_CLOSURE') })
    }
  })

  it('makes the signing key with nix-store once, mode 0600, and loads the same key after', async () => {
    const dir = join(t.dir, 'key-nix')
    await sh(['mkdir', '-p', dir])
    const key = await CacheKey.loadOrCreate(dir, 'cit-test-1', { tool, logger: silentLogger })
    expect((await stat(join(dir, CACHE_SECRET_FILE))).mode & 0o777).toBe(0o600)
    expect((await readFile(join(dir, CACHE_PUBLIC_FILE), 'utf8')).trim()).toBe(key.publicKey)
    expect(key.publicKey).toMatch(/^cit-test-1:[A-Za-z0-9+/]{43}=$/)
    const again = await CacheKey.loadOrCreate(dir, 'another-name', { tool, logger: silentLogger })
    expect(again.publicKey).toBe(key.publicKey)
    const sig = key.sign('1;/nix/store/x;sha256:y;1;')
    expect(verifyNixSignature(key.publicKey, '1;/nix/store/x;sha256:y;1;', sig)).toBe(true)
    expect(verifyNixSignature(key.publicKey, '1;/nix/store/x;sha256:y;2;', sig)).toBe(false)
    // a key file others may read is narrowed
    await chmod(join(dir, CACHE_SECRET_FILE), 0o644)
    await CacheKey.loadOrCreate(dir, 'cit-test-1', { tool, logger: silentLogger })
    expect((await stat(join(dir, CACHE_SECRET_FILE))).mode & 0o777).toBe(0o600)
  })

  it('without Nix the key is made by Node in the same format; a damaged key is refused and left as it is', async () => {
    const dir = join(t.dir, 'key-node')
    await sh(['mkdir', '-p', dir])
    const noNix = { generateCacheKey: async () => { throw Object.assign(new Error('no nix'), { code: 'ERR_NIX_UNAVAILABLE' }) } }
    const key = await CacheKey.loadOrCreate(dir, 'cit-node-1', { tool: noNix, logger: silentLogger })
    const text = await readFile(join(dir, CACHE_SECRET_FILE), 'utf8')
    expect(CacheKey.parse(text).publicKey).toBe(key.publicKey)
    expect((await stat(join(dir, CACHE_SECRET_FILE))).mode & 0o777).toBe(0o600)
    // a secret whose public half was changed
    const bytes = Buffer.from(text.split(':')[1], 'base64')
    bytes[40] ^= 1
    const damaged = `cit-node-1:${bytes.toString('base64')}`
    await writeFile(join(dir, CACHE_SECRET_FILE), damaged)
    await expect(CacheKey.loadOrCreate(dir, 'cit-node-1', { tool: noNix, logger: silentLogger })).rejects.toMatchObject({ code: 'ERR_NIX_CACHE_KEY' })
    expect(await readFile(join(dir, CACHE_SECRET_FILE), 'utf8')).toBe(damaged)
    expect(() => CacheKey.parse('no-colon')).toThrow(expect.objectContaining({ code: 'ERR_NIX_CACHE_KEY' }))
  })

  describe('NixCache', () => {
    const rows: JobRow[] = []
    const jobs = Object.assign(new EventEmitter(), { store: { all: async function * () { yield * rows } } })
    let cache: NixCache
    let narHash = ''
    const row = (id: string, outputs: Array<{ name: string, path: string, narHash: string, closure: string }>): JobRow =>
      ({ id, state: 'succeeded', nix: { drv: '/nix/store/x.drv', outputs } }) as unknown as JobRow
    const fields = (text: string): Record<string, string> => Object.fromEntries(text.trim().split('\n').map(l => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]))
    const part = (p: string): string => p.slice('/nix/store/'.length, '/nix/store/'.length + 32)

    beforeAll(async () => {
      narHash = sh(['nix-store', '--query', '--hash', top])
      rows.push(row('j1', [{ name: 'out', path: top, narHash, closure }]))
      cache = new NixCache({ jobs, blobs, ensureLocal: async () => undefined, tool, logger: silentLogger }, { keyDir: t.dir, keyName: 'cit-unit-1' })
      await cache.start()
    })
    afterAll(() => { cache?.stop() })

    it('answers a signed narinfo for an output, and for a path in its closure, and the NAR Nix would dump', async () => {
      const info = fields(await cache.narinfo(part(top)))
      expect(info).toMatchObject({ StorePath: top, Compression: 'none', NarHash: narHash, References: dep.slice('/nix/store/'.length), Deriver: sh(['nix-store', '--query', '--deriver', top]).slice('/nix/store/'.length) })
      const fingerprint = `1;${top};${narHash};${info.NarSize};${dep}`
      expect(verifyNixSignature(cache.publicKey!, fingerprint, info.Sig)).toBe(true)
      const depInfo = fields(await cache.narinfo(part(dep)))
      expect(depInfo.StorePath).toBe(dep)
      expect(depInfo.References).toBe('')
      const n = await cache.nar(depInfo.URL.slice('nar/'.length))
      const parts: Uint8Array[] = []
      for await (const c of n.stream) parts.push(c)
      expect(Buffer.concat(parts).equals(execFileSync('nix-store', ['--dump', dep]))).toBe(true)
      expect(n.size).toBe(Number(depInfo.NarSize))
      expect(cache.cacheInfo()).toBe('StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n')
    })

    it('unknown and malformed names: ERR_NIX_PATH_NOT_FOUND and ERR_INVALID_HASH; a NAR only from a closure a result names', async () => {
      await expect(cache.narinfo('0'.repeat(32))).rejects.toMatchObject({ code: 'ERR_NIX_PATH_NOT_FOUND' })
      await expect(cache.narinfo('e'.repeat(32))).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
      await expect(cache.narinfo('../../etc/passwd')).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
      const other = (await blobs.put([Buffer.from('not a closure')])).hash
      await expect(cache.nar(`${narHash.slice(7)}-${other}.nar`)).rejects.toMatchObject({ code: 'ERR_NIX_PATH_NOT_FOUND' })
      await expect(cache.nar(`${'0'.repeat(52)}-${closure}.nar`)).rejects.toMatchObject({ code: 'ERR_NIX_PATH_NOT_FOUND' })
      await expect(cache.nar('../blobs')).rejects.toMatchObject({ code: 'ERR_NIX_PATH_NOT_FOUND' })
    })

    it('a result recorded later is served; a closure that a result disagrees with is refused as a whole', async () => {
      const file = join(t.dir, 'later.nix')
      await writeFile(file, `derivation { name = "later-cit"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo later > $out" ]; nonce = "${NONCE}"; }\n`)
      const later = sh(['nix-build', file, '--no-out-link'])
      await expect(cache.narinfo(part(later))).rejects.toMatchObject({ code: 'ERR_NIX_PATH_NOT_FOUND' })
      const blob = await exportClosure(tool, blobs, [later], join(t.dir, 'tmp'))
      const laterHash = sh(['nix-store', '--query', '--hash', later])
      jobs.emit('change', row('j2', [{ name: 'out', path: later, narHash: laterHash, closure: blob.hash }]))
      const info = fields(await cache.narinfo(part(later)))
      expect(info.StorePath).toBe(later)
      // another result says the same closure holds `later` with another NAR hash: neither is believed
      jobs.emit('change', row('j3', [{ name: 'out', path: later, narHash: `sha256:${'0'.repeat(52)}`, closure: blob.hash }]))
      await expect.poll(async () => await cache.narinfo(part(later)).then(() => 'served', (err: any) => err.code)).toBe('ERR_NIX_PATH_NOT_FOUND')
      await expect(cache.nar(info.URL.slice('nar/'.length))).rejects.toMatchObject({ code: 'ERR_NIX_PATH_NOT_FOUND' })
      // a result claiming a path its closure does not hold refuses that closure too, with every path in it
      const fake = `/nix/store/${'1'.repeat(32)}-fake`
      jobs.emit('change', row('j4', [{ name: 'out', path: fake, narHash, closure }]))
      await expect(cache.narinfo(part(fake))).rejects.toMatchObject({ code: 'ERR_NIX_PATH_NOT_FOUND' })
      await expect.poll(async () => await cache.narinfo(part(top)).then(() => 'served', (err: any) => err.code)).toBe('ERR_NIX_PATH_NOT_FOUND')
      await expect(cache.narinfo(part(dep))).rejects.toMatchObject({ code: 'ERR_NIX_PATH_NOT_FOUND' })
    })
  })
})
