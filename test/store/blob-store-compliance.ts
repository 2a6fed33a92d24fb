/**
 * The behaviour every BlobStore must have, as a suite any implementation runs against itself
 * (the pattern of js-stores' interface-datastore-tests):
 *
 *   blobStoreCompliance('FsBlobStore', { setup: async () => new FsBlobStore({}, { dir }), teardown: async () => rm(dir) })
 *
 * `setup` returns a fresh, empty, not yet started store; the suite starts and stops it.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BlobStore } from '../../store/blobs/types.js'

export interface BlobStoreFactory {
  /** a new empty store, not started */
  setup: () => Promise<BlobStore>
  /** release what setup made (called after the suite stopped the store) */
  teardown: (store: BlobStore) => Promise<void>
}

export function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of source) parts.push(chunk)
  return Buffer.concat(parts)
}

/** compare by content (vitest's deep equality walks a big Buffer byte by byte, taking seconds per MiB) */
export function expectSameBytes (actual: Uint8Array, expected: Uint8Array): void {
  expect({ size: actual.byteLength, sha256: sha256(actual) }).toEqual({ size: expected.byteLength, sha256: sha256(expected) })
}

/** deterministic pseudo-random bytes, so failures reproduce */
export function bytesOf (size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** a source that yields `chunks` and then waits until `signal` aborts (a peer that stalls mid-transfer) */
export async function * stallingSource (chunks: Uint8Array[], signal: AbortSignal): AsyncGenerator<Uint8Array> {
  yield * chunks
  await new Promise(resolve => signal.addEventListener('abort', resolve, { once: true }))
}

const INVALID_HASHES = [
  '',
  'abc',
  'a'.repeat(63),
  'a'.repeat(65),
  'g'.repeat(64),
  'sha256:' + 'a'.repeat(63),
  'md5:' + 'a'.repeat(64),
  ' ' + 'a'.repeat(64),
  'a'.repeat(64) + '\n',
  '../' + 'a'.repeat(61)
]

export function blobStoreCompliance (name: string, factory: BlobStoreFactory): void {
  describe(`BlobStore compliance: ${name}`, () => {
    let store: BlobStore

    beforeEach(async () => {
      store = await factory.setup()
      await store.start()
    })

    afterEach(async () => {
      await store.stop()
      await factory.teardown(store)
    })

    it('start and stop are idempotent', async () => {
      await store.start()
      const info = await store.put([Buffer.from('still works')])
      await store.stop()
      await store.stop()
      await store.start()
      expect(await collect(store.get(info.hash))).toEqual(Buffer.from('still works'))
    })

    it('names a blob by the sha256 of its bytes, as lowercase hex', async () => {
      const bytes = bytesOf(10_000)
      const info = await store.put([bytes])
      expect(info).toEqual({ hash: sha256(bytes), size: bytes.byteLength })
      expect(info.hash).toMatch(/^[0-9a-f]{64}$/)
    })

    it('round-trips the empty blob', async () => {
      const info = await store.put([])
      expect(info).toEqual({ hash: sha256(Buffer.alloc(0)), size: 0 })
      expect((await collect(store.get(info.hash))).byteLength).toBe(0)
      expect(await store.stat(info.hash)).toEqual(info)
    })

    it('accepts arrays, generators, async generators and Readables, chunked any way', async () => {
      const bytes = bytesOf(300_000, 7)
      const parts = [bytes.subarray(0, 1), bytes.subarray(1, 100_000), bytes.subarray(100_000, 100_000), bytes.subarray(100_000)]
      const sources = [
        parts,
        (function * () { yield * parts })(),
        (async function * () { yield * parts })(),
        Readable.from(parts)
      ]
      for (const source of sources) {
        const info = await store.put(source)
        expect(info.hash).toBe(sha256(bytes))
        expectSameBytes(await collect(store.get(info.hash)), bytes)
      }
    })

    it('stores a file by path', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cit-blob-src-'))
      try {
        const bytes = bytesOf(1_000_000, 3)
        await writeFile(join(dir, 'f'), bytes)
        const info = await store.putFile(join(dir, 'f'))
        expect(info).toEqual({ hash: sha256(bytes), size: bytes.byteLength })
        expectSameBytes(await collect(store.get(info.hash)), bytes)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    it('adopts a file: stored under its hash without a copy, the file moved in; twice is fine', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cit-blob-adopt-'))
      try {
        const bytes = bytesOf(1_500_000, 21)
        await writeFile(join(dir, 'a'), bytes)
        await writeFile(join(dir, 'b'), bytes)
        const info = await store.adoptFile(join(dir, 'a'), { expectedHash: sha256(bytes) })
        expect(info).toEqual({ hash: sha256(bytes), size: bytes.byteLength })
        expectSameBytes(await collect(store.get(info.hash)), bytes)
        expect(await store.verify(info.hash)).toBe(true)
        expect(await readdir(dir)).toEqual(['b'])
        expect(await store.adoptFile(join(dir, 'b'))).toEqual(info)
        expect(await readdir(dir)).toEqual([])
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    it('adopting a file whose bytes do not match expectedHash, or over maxBytes, stores nothing and removes it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cit-blob-adopt-'))
      try {
        const bytes = bytesOf(300_000, 22)
        await writeFile(join(dir, 'wrong'), bytes)
        await expect(store.adoptFile(join(dir, 'wrong'), { expectedHash: sha256(Buffer.from('other')) })).rejects.toMatchObject({ code: 'ERR_HASH_MISMATCH' })
        await writeFile(join(dir, 'big'), bytes)
        await expect(store.adoptFile(join(dir, 'big'), { maxBytes: 1000 })).rejects.toMatchObject({ code: 'ERR_BLOB_TOO_LARGE' })
        expect(await store.has(sha256(bytes))).toBe(false)
        expect(await readdir(dir)).toEqual([])
        await expect(store.adoptFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ERR_BLOB_WRITE_FAILED' })
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    it('putting the same bytes twice, even at once, succeeds with the same answer', async () => {
      const bytes = bytesOf(500_000, 9)
      const infos = await Promise.all([1, 2, 3, 4].map(async () => await store.put([bytes])))
      for (const info of infos) expect(info).toEqual({ hash: sha256(bytes), size: bytes.byteLength })
      expect(await store.put([bytes])).toEqual(infos[0])
      const listed = []
      for await (const b of store.list()) listed.push(b)
      expect(listed).toEqual([infos[0]])
    })

    it('accepts upper case and a sha256: prefix wherever it takes a hash', async () => {
      const bytes = Buffer.from('case and prefix')
      const { hash } = await store.put([bytes])
      for (const form of [hash.toUpperCase(), `sha256:${hash}`, `SHA256:${hash.toUpperCase()}`]) {
        expect(await store.has(form)).toBe(true)
        expect(await store.stat(form)).toEqual({ hash, size: bytes.byteLength })
        expect(await collect(store.get(form))).toEqual(bytes)
        expect(store.pathOf(form)).toBe(store.pathOf(hash))
      }
    })

    it('refuses malformed hashes with ERR_INVALID_HASH', async () => {
      for (const bad of INVALID_HASHES) {
        await expect(collect(store.get(bad)), bad).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
        await expect(store.has(bad), bad).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
        await expect(store.stat(bad), bad).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
        await expect(store.delete(bad), bad).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
        await expect(store.verify(bad), bad).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
        expect(() => store.pathOf(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_INVALID_HASH' }))
        await expect(store.put([Buffer.from('x')], { expectedHash: bad }), bad).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
      }
    })

    it('a missing blob is ERR_BLOB_NOT_FOUND, and has() says false', async () => {
      const missing = sha256(Buffer.from('never stored'))
      expect(await store.has(missing)).toBe(false)
      await expect(collect(store.get(missing))).rejects.toMatchObject({ code: 'ERR_BLOB_NOT_FOUND' })
      await expect(store.stat(missing)).rejects.toMatchObject({ code: 'ERR_BLOB_NOT_FOUND' })
      await expect(store.verify(missing)).rejects.toMatchObject({ code: 'ERR_BLOB_NOT_FOUND' })
    })

    it('reads byte ranges [start, end)', async () => {
      const bytes = bytesOf(1_000_003, 11)
      const { hash } = await store.put([bytes])
      const cases: Array<[number | undefined, number | undefined]> = [
        [0, 1], [undefined, 10], [10, undefined], [999_999, 1_000_003], [123_456, 654_321], [500, 500], [0, 1_000_003]
      ]
      for (const [start, end] of cases) {
        const got = await collect(store.get(hash, { start, end }))
        expect(got.equals(bytes.subarray(start ?? 0, end ?? bytes.byteLength)), `${start}-${end}`).toBe(true)
      }
    })

    it('refuses ranges outside the blob or not whole numbers with ERR_INVALID_RANGE', async () => {
      const { hash } = await store.put([bytesOf(100)])
      for (const range of [{ start: 101 }, { end: 101 }, { start: 50, end: 40 }, { start: -1 }, { start: 1.5 }, { end: Number.NaN }]) {
        await expect(collect(store.get(hash, range)), JSON.stringify(range)).rejects.toMatchObject({ code: 'ERR_INVALID_RANGE' })
      }
    })

    it('maxBytes: a blob of exactly the limit is stored, one byte more is ERR_BLOB_TOO_LARGE and nothing is', async () => {
      const ok = bytesOf(1000, 5)
      expect((await store.put([ok], { maxBytes: 1000 })).size).toBe(1000)
      const big = bytesOf(1001, 6)
      await expect(store.put([big.subarray(0, 600), big.subarray(600)], { maxBytes: 1000 })).rejects.toMatchObject({ code: 'ERR_BLOB_TOO_LARGE' })
      expect(await store.has(sha256(big))).toBe(false)
    })

    it('expectedHash: matching bytes are stored, others are ERR_HASH_MISMATCH and nothing is', async () => {
      const bytes = Buffer.from('expected')
      expect((await store.put([bytes], { expectedHash: `sha256:${sha256(bytes).toUpperCase()}` })).hash).toBe(sha256(bytes))
      const other = Buffer.from('something else')
      await expect(store.put([other], { expectedHash: sha256(bytes) })).rejects.toMatchObject({ code: 'ERR_HASH_MISMATCH' })
      expect(await store.has(sha256(other))).toBe(false)
    })

    it('an aborted put (before or during) rejects and stores nothing', async () => {
      const bytes = bytesOf(64 * 1024, 8)
      await expect(store.put([bytes], { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
      const controller = new AbortController()
      const put = store.put(stallingSource([bytes], controller.signal), { signal: controller.signal })
      controller.abort()
      await expect(put).rejects.toMatchObject({ name: 'AbortError' })
      expect(await store.has(sha256(bytes))).toBe(false)
    })

    it('a source that throws mid-stream fails the put with its error and stores nothing', async () => {
      const bytes = bytesOf(200_000, 12)
      const boom = Object.assign(new Error('source broke'), { code: 'ESOURCE' })
      const source = (async function * () { yield bytes.subarray(0, 100_000); throw boom })()
      const err = await store.put(source).then(() => undefined, (e: unknown) => e)
      expect(chain(err)).toContain(boom)
      expect(await store.has(sha256(bytes))).toBe(false)
      expect(await store.has(sha256(bytes.subarray(0, 100_000)))).toBe(false)
    })

    it('refuses sources that are not streams of bytes', async () => {
      await expect(store.put(['text' as unknown as Uint8Array])).rejects.toBeInstanceOf(Error)
      expect(await store.has(sha256(Buffer.from('text')))).toBe(false)
      await expect(store.put(42 as unknown as Uint8Array[])).rejects.toBeInstanceOf(Error)
    })

    it('delete removes a blob; deleting again is not an error', async () => {
      const keep = await store.put([Buffer.from('keep')])
      const gone = await store.put([Buffer.from('gone')])
      await store.delete(gone.hash)
      await store.delete(gone.hash)
      expect(await store.has(gone.hash)).toBe(false)
      await expect(collect(store.get(gone.hash))).rejects.toMatchObject({ code: 'ERR_BLOB_NOT_FOUND' })
      expect(await store.has(keep.hash)).toBe(true)
    })

    it('list yields every stored blob with its size', async () => {
      const infos = []
      for (let i = 0; i < 20; i++) infos.push(await store.put([bytesOf(i * 37, i + 1)]))
      await store.delete(infos[3].hash)
      const expected = infos.filter((_, i) => i !== 3).sort((a, b) => a.hash.localeCompare(b.hash))
      const listed = []
      for await (const b of store.list()) listed.push(b)
      expect(listed.sort((a, b) => a.hash.localeCompare(b.hash))).toEqual(expected)
    })

    it('verify says true for an intact blob', async () => {
      const { hash } = await store.put([bytesOf(2_000_000, 13)])
      expect(await store.verify(hash)).toBe(true)
    })

    it('a read can be aborted', async () => {
      const { hash } = await store.put([bytesOf(4_000_000, 14)])
      const controller = new AbortController()
      const read = (async () => {
        for await (const chunk of store.get(hash, { signal: controller.signal })) { void chunk; controller.abort() }
      })()
      await expect(read).rejects.toMatchObject({ name: 'AbortError' })
    })
  })
}

/** an error and its causes, outermost first */
export function chain (err: unknown): unknown[] {
  const out: unknown[] = []
  for (let e = err; e != null && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e)
  return out
}
