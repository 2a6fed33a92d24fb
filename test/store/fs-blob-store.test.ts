import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readdir, readFile, stat, truncate, utimes, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FsBlobStore, isHash, parseHash } from '../../store/blobs/index.js'
import { tempHome, waitFor } from '../helpers/cli.js'
import { blobStoreCompliance, bytesOf, chain, collect, expectSameBytes, sha256 } from './blob-store-compliance.js'
import type { BlobStore } from '../../store/blobs/index.js'
import type { Logger } from '../../store/logger.js'

const MiB = 1024 * 1024

const dirs = new Map<BlobStore, () => Promise<void>>()
blobStoreCompliance('FsBlobStore', {
  setup: async () => {
    const home = await tempHome('cit-blobs-')
    const store = new FsBlobStore({}, { dir: join(home.dir, 'blobs') })
    dirs.set(store, home.cleanup)
    return store
  },
  teardown: async (store) => {
    await dirs.get(store)?.()
    dirs.delete(store)
  }
})

/** every file under `dir`, as paths relative to it */
async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter(e => e.isFile()).map(e => relative(dir, join(e.parentPath, e.name))).sort()
}

/** a logger that keeps what it is told, to check what the store reports */
function recordingLogger (): Logger & { entries: Array<{ level: string, msg: string, fields?: Record<string, unknown> }> } {
  const entries: Array<{ level: string, msg: string, fields?: Record<string, unknown> }> = []
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => { entries.push({ level, msg, fields }) }
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/** rewrite one byte of a stored (read-only) blob in place, as disk rot or tampering would */
async function flipByte (path: string, offset: number): Promise<void> {
  await chmod(path, 0o644)
  const fh = await open(path, 'r+')
  const b = Buffer.alloc(1)
  await fh.read(b, 0, 1, offset)
  b[0] ^= 0xff
  await fh.write(b, 0, 1, offset)
  await fh.close()
  await chmod(path, 0o444)
}

describe('parseHash and isHash', () => {
  const hex = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03'

  it('accept 64 hex digits in any case, optionally prefixed sha256:, and return lowercase', () => {
    for (const form of [hex, hex.toUpperCase(), `sha256:${hex}`, `SHA256:${hex.toUpperCase()}`, `Sha256:${hex}`]) {
      expect(parseHash(form)).toBe(hex)
      expect(isHash(form)).toBe(true)
    }
  })

  it('refuse everything else with ERR_INVALID_HASH', () => {
    for (const bad of ['', hex.slice(1), hex + '0', `${hex}\n`, ` ${hex}`, `sha256:sha256:${hex}`, `sha1:${hex}`, hex.replace('5', 'g'), `sha256:`]) {
      expect(isHash(bad), bad).toBe(false)
      expect(() => parseHash(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_INVALID_HASH' }))
    }
    expect(isHash(42)).toBe(false)
    expect(() => parseHash(undefined as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_HASH' }))
  })
})

describe('FsBlobStore on disk', () => {
  let home: { dir: string, cleanup: () => Promise<void> }
  let dir: string
  let logger: ReturnType<typeof recordingLogger>
  let store: FsBlobStore

  beforeEach(async () => {
    home = await tempHome('cit-blobs-')
    dir = join(home.dir, 'blobs')
    logger = recordingLogger()
    store = new FsBlobStore({ logger }, { dir })
    await store.start()
  })

  afterEach(async () => {
    await store.stop()
    await home.cleanup()
  })

  it('lays blobs out as sha256/<2 hex>/<hash>, read-only, with tmp/ left empty', async () => {
    const bytes = Buffer.from('hello blobs\n')
    const { hash } = await store.put([bytes])
    const path = join(dir, 'sha256', hash.slice(0, 2), hash)
    expect(store.pathOf(hash)).toBe(path)
    expect(await readFile(path)).toEqual(bytes)
    expect((await stat(path)).mode & 0o777).toBe(0o444)
    expect(await filesUnder(dir)).toEqual([join('sha256', hash.slice(0, 2), hash)])
    expect((await readdir(join(dir, 'tmp')))).toEqual([])
    // the same digest sha256sum prints
    expect(execFileSync('sha256sum', [path]).toString().split(' ')[0]).toBe(hash)
  })

  it('hashes exactly like node:crypto across the padding boundaries of sha256', async () => {
    for (const size of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, MiB + 1]) {
      const bytes = randomBytes(size)
      const info = await store.put([bytes])
      expect(info.hash, `size ${size}`).toBe(createHash('sha256').update(bytes).digest('hex'))
      expect(info.size).toBe(size)
    }
  })

  it('start() removes temp files an interrupted put left behind', async () => {
    await store.stop()
    await writeFile(join(dir, 'tmp', 'leftover'), 'half a blob')
    await mkdir(join(dir, 'tmp', 'odd-dir'))
    await store.start()
    expect(await readdir(join(dir, 'tmp'))).toEqual([])
    expect(logger.entries.some(e => e.msg.includes('temp') && e.fields?.count === 2)).toBe(true)
  })

  it('streams a 64 MiB blob in and out without getting ahead of the disk', async () => {
    const chunks = 64
    const expected = createHash('sha256')
    const tmp = join(dir, 'tmp')
    const source = async function * (): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < chunks; i++) {
        // backpressure: the store asks for chunk i only once chunks 0..i-1 are written
        const [name] = await readdir(tmp)
        expect((await stat(join(tmp, name))).size).toBe(i * MiB)
        const chunk = randomBytes(MiB)
        expected.update(chunk)
        yield chunk
      }
    }
    const info = await store.put(source())
    expect(info).toEqual({ hash: expected.digest('hex'), size: chunks * MiB })

    const readBack = createHash('sha256')
    let size = 0
    let biggest = 0
    for await (const chunk of store.get(info.hash)) {
      readBack.update(chunk)
      size += chunk.byteLength
      biggest = Math.max(biggest, chunk.byteLength)
    }
    expect(readBack.digest('hex')).toBe(info.hash)
    expect(size).toBe(chunks * MiB)
    expect(biggest).toBeLessThanOrEqual(MiB)
  })

  it('concurrent puts of the same bytes all succeed and leave one file', async () => {
    const bytes = bytesOf(3 * MiB, 21)
    const interleaved = async function * (): AsyncGenerator<Uint8Array> {
      for (let off = 0; off < bytes.byteLength; off += 64 * 1024) {
        await new Promise(resolve => setImmediate(resolve))
        yield bytes.subarray(off, off + 64 * 1024)
      }
    }
    const infos = await Promise.all(Array.from({ length: 8 }, async () => await store.put(interleaved())))
    for (const info of infos) expect(info).toEqual({ hash: sha256(bytes), size: bytes.byteLength })
    expect(await filesUnder(dir)).toEqual([join('sha256', infos[0].hash.slice(0, 2), infos[0].hash)])
    expectSameBytes(await collect(store.get(infos[0].hash)), bytes)
  })

  it('a corrupt blob is refused with ERR_HASH_MISMATCH, its last chunk withheld, and never served again', async () => {
    const bytes = bytesOf(3 * MiB + 100, 22)
    const { hash } = await store.put([bytes])
    await flipByte(store.pathOf(hash), 10)

    let received = 0
    const err = await (async () => { for await (const chunk of store.get(hash)) received += chunk.byteLength })()
      .then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_HASH_MISMATCH' })
    expect(received).toBeLessThan(bytes.byteLength)

    expect(await store.has(hash)).toBe(false)
    await expect(collect(store.get(hash))).rejects.toMatchObject({ code: 'ERR_BLOB_NOT_FOUND' })
    const quarantined = await readdir(join(dir, 'quarantine'))
    expect(quarantined).toHaveLength(1)
    expect(quarantined[0].startsWith(hash)).toBe(true)
    expect(logger.entries.some(e => e.level === 'warn' && e.fields?.hash === hash)).toBe(true)

    // the good bytes can be stored again under the same name
    await store.put([bytes])
    expectSameBytes(await collect(store.get(hash)), bytes)
  })

  it('a corrupt one-chunk blob delivers no bytes at all', async () => {
    const { hash } = await store.put([Buffer.from('small and soon corrupt')])
    await flipByte(store.pathOf(hash), 0)
    let received = 0
    await expect((async () => { for await (const chunk of store.get(hash)) received += chunk.byteLength })())
      .rejects.toMatchObject({ code: 'ERR_HASH_MISMATCH' })
    expect(received).toBe(0)
  })

  it('verify() finds corruption and quarantines the blob', async () => {
    const { hash } = await store.put([bytesOf(100_000, 23)])
    expect(await store.verify(hash)).toBe(true)
    await flipByte(store.pathOf(hash), 99_999)
    await expect(store.verify(hash)).rejects.toMatchObject({ code: 'ERR_HASH_MISMATCH' })
    expect(await store.has(hash)).toBe(false)
    expect(await readdir(join(dir, 'quarantine'))).toHaveLength(1)
  })

  it('verify() does not hash a blob again while its file is unchanged, and does once it changes', async () => {
    const { hash } = await store.put([bytesOf(300_000, 26)])
    // a file changed less than a second ago is always hashed: file times are coarse
    const reads = { n: 0 }
    const get = store.get.bind(store)
    store.get = (h, o) => { reads.n++; return get(h, o) }
    expect(await store.verify(hash)).toBe(true)
    expect(await store.verify(hash)).toBe(true)
    expect(reads.n).toBe(2)
    const old = new Date(Date.now() - 60_000)
    await utimes(store.pathOf(hash), old, old)
    expect(await store.verify(hash)).toBe(true)
    expect(await store.verify(hash)).toBe(true)
    expect(await store.verify(hash)).toBe(true)
    expect(reads.n).toBe(3)
    // a write to its bytes gives the file a new modification time: hashed again, and found corrupt
    await flipByte(store.pathOf(hash), 1)
    await expect(store.verify(hash)).rejects.toMatchObject({ code: 'ERR_HASH_MISMATCH' })
    expect(reads.n).toBe(4)
  })

  it('a put over a truncated copy replaces it', async () => {
    const bytes = bytesOf(500_000, 24)
    const { hash } = await store.put([bytes])
    await chmod(store.pathOf(hash), 0o644)
    await truncate(store.pathOf(hash), 1000)
    await store.put([bytes])
    expectSameBytes(await collect(store.get(hash)), bytes)
    expect(await readdir(join(dir, 'quarantine'))).toHaveLength(1)
  })

  it('over maxBytes or a wrong expectedHash: typed error, no file anywhere', async () => {
    const bytes = bytesOf(2 * MiB, 25)
    await expect(store.put([bytes.subarray(0, MiB), bytes.subarray(MiB)], { maxBytes: MiB + 1 }))
      .rejects.toMatchObject({ code: 'ERR_BLOB_TOO_LARGE' })
    await expect(store.put([bytes], { expectedHash: sha256(Buffer.from('other')) }))
      .rejects.toMatchObject({ code: 'ERR_HASH_MISMATCH' })
    expect(await filesUnder(dir)).toEqual([])
  })

  it('abort mid-put leaves nothing in tmp nor under the hash, even if the source never yields again', async () => {
    const controller = new AbortController()
    const stuck = async function * (): AsyncGenerator<Uint8Array> {
      yield bytesOf(MiB, 26)
      yield bytesOf(MiB, 27)
      await new Promise(() => {})
    }
    const put = store.put(stuck(), { signal: controller.signal })
    await waitFor(async () => (await filesUnder(join(dir, 'tmp'))).length === 1 &&
      (await stat(join(dir, 'tmp', (await readdir(join(dir, 'tmp')))[0]))).size === 2 * MiB, { what: 'two chunks on disk' })
    controller.abort()
    await expect(put).rejects.toMatchObject({ name: 'AbortError' })
    expect(await filesUnder(dir)).toEqual([])
  })

  it('abort destroys a Readable source', async () => {
    const controller = new AbortController()
    const readable = new Readable({ read () {} })
    readable.push(bytesOf(1000))
    const put = store.put(readable, { signal: controller.signal })
    await waitFor(async () => (await filesUnder(join(dir, 'tmp'))).length === 1, { what: 'a temp file' })
    controller.abort()
    await expect(put).rejects.toMatchObject({ name: 'AbortError' })
    await waitFor(() => readable.destroyed, { what: 'the source destroyed' })
    expect(await filesUnder(dir)).toEqual([])
  })

  it('a source failing mid-stream (as a full disk would) is a clean error with no partial blob', async () => {
    const enospc = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
    const failing = async function * (): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 3; i++) yield bytesOf(MiB, 30 + i)
      throw enospc
    }
    const err = await store.put(failing()).then(() => undefined, (e: unknown) => e)
    expect(chain(err)).toContain(enospc)
    expect(await filesUnder(dir)).toEqual([])
  })

  it('a put into a really full disk (tiny tmpfs) fails with ERR_BLOB_WRITE_FAILED and leaves nothing', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip()
    const mnt = join(home.dir, 'tiny')
    await mkdir(mnt)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { stdio: 'ignore' })
    } catch {
      ctx.skip()
    }
    const tiny = new FsBlobStore({}, { dir: join(mnt, 'blobs') })
    try {
      await tiny.start()
      const big = async function * (): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 16; i++) yield bytesOf(MiB, 40 + i)
      }
      const err = await tiny.put(big()).then(() => undefined, (e: unknown) => e)
      expect(err).toMatchObject({ code: 'ERR_BLOB_WRITE_FAILED' })
      expect((err as Error).cause).toMatchObject({ code: 'ENOSPC' })
      expect(await filesUnder(join(mnt, 'blobs'))).toEqual([])
      // the space came back: a small blob still fits
      const small = await tiny.put([Buffer.from('fits')])
      expect((await collect(tiny.get(small.hash))).toString()).toBe('fits')
    } finally {
      await tiny.stop()
      execFileSync('umount', [mnt], { stdio: 'ignore' })
    }
  })

  it('stop() cancels puts in flight (ERR_STORE_STOPPED), cleans up, and refuses new ones', async () => {
    const put = store.put((async function * () { yield bytesOf(1000); await new Promise(() => {}) })())
    await waitFor(async () => (await filesUnder(join(dir, 'tmp'))).length === 1, { what: 'a temp file' })
    await store.stop()
    await expect(put).rejects.toMatchObject({ code: 'ERR_STORE_STOPPED' })
    expect(await filesUnder(dir)).toEqual([])
    await expect(store.put([Buffer.from('late')])).rejects.toMatchObject({ code: 'ERR_STORE_STOPPED' })
  })

  it('reads work on a store that is not started', async () => {
    const { hash } = await store.put([Buffer.from('read me later')])
    const reader = new FsBlobStore({}, { dir })
    expect((await collect(reader.get(hash))).toString()).toBe('read me later')
    expect(await reader.stat(hash)).toEqual({ hash, size: 13 })
  })

  it('list skips files that are not blobs', async () => {
    const { hash } = await store.put([Buffer.from('the only blob')])
    await writeFile(join(dir, 'sha256', hash.slice(0, 2), 'notes.txt'), 'x')
    await writeFile(join(dir, 'sha256', hash.slice(0, 2), 'f'.repeat(64)), 'wrong fan-out')
    await mkdir(join(dir, 'sha256', 'zz'))
    await writeFile(join(dir, 'sha256', 'zz', 'a'.repeat(64)), 'x')
    await writeFile(join(dir, 'tmp', 'pending'), 'x')
    const listed = []
    for await (const b of store.list()) listed.push(b)
    expect(listed).toEqual([{ hash, size: 13 }])
  })

  it('refuses bad construction and bad put options by name', async () => {
    expect(() => new FsBlobStore({}, { dir: '' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
    expect(() => new FsBlobStore({}, { dir, readChunkBytes: 0 })).toThrow(/readChunkBytes/)
    for (const maxBytes of [-1, 1.5, Number.NaN]) {
      await expect(store.put([Buffer.from('x')], { maxBytes })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    }
    await expect(store.put(['text' as unknown as Uint8Array])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    expect(await filesUnder(dir)).toEqual([])
  })
})
