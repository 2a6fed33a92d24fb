import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises'
import { resolve } from 'node:path'
import { BlobNotFoundError, BlobTooLargeError, HashMismatchError } from '../errors.js'
import { silentLogger } from '../logger.js'
import { BLOB_FILE_MODE, FANOUT_HEX_DIGITS, HASH_ALGORITHM, MAX_VERIFIED_REMEMBERED, READ_CHUNK_BYTES, STABLE_BEFORE_MS, TMP_FILE_MODE, VERIFIED_FOR_MS } from './constants.js'
import { BlobWriteError, InvalidArgumentError, StoreStoppedError } from './errors.js'
import { isHash, parseHash } from './hash.js'
import { BlobLayout, fsyncDir } from './layout.js'
import { readBlob } from './read.js'
import { SourceReader } from './source.js'
import type { Logger } from '../logger.js'
import type { AbortOptions, BlobInfo, BlobStore, ByteSource, GetOptions, PutOptions } from './types.js'
import type { FileHandle } from 'node:fs/promises'

export interface FsBlobStoreComponents {
  logger?: Logger
}

export interface FsBlobStoreInit {
  /** the store's directory; created at start() */
  dir: string
  /** bytes per chunk when streaming blobs out and reading files in (default READ_CHUNK_BYTES) */
  readChunkBytes?: number
}

/**
 * Blobs as read-only files named by their sha256 under `<dir>/sha256/<2 hex>/<hash>`.
 * A put streams into `<dir>/tmp/`, hashing as it writes, fsyncs, renames into place and fsyncs the directory, so a
 * name only ever appears with its complete bytes. Whole-blob reads are verified; a corrupt blob is quarantined.
 * Reads work without start(); puts need it (start() prepares the directories and clears old temp files).
 * One process owns a store directory at a time: start() deletes temp files another process may be writing.
 */
export class FsBlobStore implements BlobStore {
  private readonly layout: BlobLayout
  private readonly logger: Logger
  private readonly readChunkBytes: number
  private controller?: AbortController
  private starting?: Promise<void>
  private readonly inflight = new Set<Promise<unknown>>()
  /** blobs verified whole lately: their file as it was then (a changed file is hashed again) */
  private readonly verified = new Map<string, { ino: number, size: number, mtimeMs: number, at: number }>()

  constructor (components: FsBlobStoreComponents, init: FsBlobStoreInit) {
    if (typeof init?.dir !== 'string' || init.dir === '') throw new InvalidArgumentError('FsBlobStore: init.dir must be a non-empty path')
    this.readChunkBytes = init.readChunkBytes ?? READ_CHUNK_BYTES
    if (!Number.isSafeInteger(this.readChunkBytes) || this.readChunkBytes <= 0) {
      throw new InvalidArgumentError(`FsBlobStore: init.readChunkBytes must be a positive integer, got ${String(init.readChunkBytes)}`)
    }
    this.layout = new BlobLayout(resolve(init.dir))
    this.logger = components.logger ?? silentLogger
  }

  async start (): Promise<void> {
    if (this.controller != null) return
    this.starting ??= (async () => {
      try {
        const removed = await this.layout.prepare()
        if (removed > 0) this.logger.info('removed unfinished temp files', { count: removed })
        this.controller = new AbortController()
      } finally {
        this.starting = undefined
      }
    })()
    await this.starting
  }

  /**
   * Cancels puts in flight (they reject with ERR_STORE_STOPPED and remove their temp files) and waits for that
   * cleanup. Puts are not drained: how long a put takes is up to its caller's source, not the store.
   */
  async stop (): Promise<void> {
    await this.starting?.catch(() => {})
    const controller = this.controller
    if (controller == null) return
    this.controller = undefined
    controller.abort(new StoreStoppedError('the blob store was stopped during the put'))
    await Promise.allSettled([...this.inflight])
  }

  async put (source: ByteSource, options: PutOptions = {}): Promise<BlobInfo> {
    // the reader is made last: from there on the source is ours to close, on every path
    return await this.tracked(options, async (signal, limit, expected) => await this.write(new SourceReader(source), signal, limit, expected))
  }

  async putFile (path: string, options: PutOptions = {}): Promise<BlobInfo> {
    return await this.put(createReadStream(path, { highWaterMark: this.readChunkBytes }), options)
  }

  async adoptFile (path: string, options: PutOptions = {}): Promise<BlobInfo> {
    const hashedAs = options.hashedAs == null ? undefined : parseHash(options.hashedAs)
    return await this.tracked(options, async (signal, limit, expected) => await this.adopt(path, signal, limit, expected, hashedAs))
  }

  /** check a put's options, then run it under the store's stop signal and the caller's, as an operation `stop()` waits for */
  private async tracked (options: PutOptions, run: (signal: AbortSignal, limit: number, expected?: string) => Promise<BlobInfo>): Promise<BlobInfo> {
    if (this.controller == null) throw new StoreStoppedError()
    const limit = checkMaxBytes(options.maxBytes)
    const expected = options.expectedHash == null ? undefined : parseHash(options.expectedHash)
    const op = linkSignals(this.controller.signal, options.signal)
    const p = run(op.signal, limit, expected)
    this.inflight.add(p)
    try {
      return await p
    } finally {
      this.inflight.delete(p)
      op.unlink()
    }
  }

  get (hash: string, options: GetOptions = {}): AsyncIterable<Uint8Array> {
    return readBlob({
      layout: this.layout,
      hash,
      options,
      // a caller's hint, within sane bounds
      chunkBytes: Math.min(16 * 1024 * 1024, Math.max(4096, options.chunkBytes ?? this.readChunkBytes)),
      onCorrupt: async (h, ino, actual) => {
        await this.layout.quarantine(h, ino, this.logger, `bytes hash to ${actual}`)
      }
    })
  }

  /** resolves true when the blob's bytes hash to its name; ERR_HASH_MISMATCH (and quarantine) if not */
  async verify (hash: string, options: AbortOptions = {}): Promise<boolean> {
    const h = parseHash(hash)
    const started = Date.now()
    const file = await stat(this.layout.blobPath(h)).catch(() => undefined)
    const seen = this.verified.get(h)
    if (file != null && seen != null && seen.ino === file.ino && seen.size === file.size && seen.mtimeMs === file.mtimeMs && Date.now() - seen.at < VERIFIED_FOR_MS) {
      return true
    }
    for await (const chunk of this.get(h, options)) void chunk
    this.verified.delete(h)
    // file times are coarse (a clock tick): only a file unchanged for a while before this check is
    // sure to show a later change in its modification time
    if (file != null && file.mtimeMs < started - STABLE_BEFORE_MS) this.verified.set(h, { ino: file.ino, size: file.size, mtimeMs: file.mtimeMs, at: started })
    if (this.verified.size > MAX_VERIFIED_REMEMBERED) this.verified.delete(this.verified.keys().next().value as string)
    return true
  }

  async has (hash: string): Promise<boolean> {
    return (await statBlob(this.layout.blobPath(parseHash(hash)))) != null
  }

  async stat (hash: string): Promise<BlobInfo> {
    const h = parseHash(hash)
    const st = await statBlob(this.layout.blobPath(h))
    if (st == null) throw new BlobNotFoundError(h)
    return { hash: h, size: st.size }
  }

  /** removes the blob; deleting a blob that is not there is not an error */
  async delete (hash: string): Promise<void> {
    const h = parseHash(hash)
    this.verified.delete(h)
    await unlink(this.layout.blobPath(h)).catch((err: any) => {
      if (err?.code !== 'ENOENT') throw err
    })
  }

  /** every stored blob, ordered by hash; files that are not named like a blob are skipped */
  async * list (options: AbortOptions = {}): AsyncGenerator<BlobInfo> {
    const fanouts = await readdirOrEmpty(this.layout.blobsDir)
    for (const fanout of fanouts.sort()) {
      if (fanout.length !== FANOUT_HEX_DIGITS || !/^[0-9a-f]+$/.test(fanout)) continue
      const names = await readdirOrEmpty(this.layout.fanoutDir(fanout))
      for (const name of names.sort()) {
        options.signal?.throwIfAborted()
        if (!isHash(name) || name !== name.toLowerCase() || !name.startsWith(fanout)) continue
        const st = await statBlob(this.layout.blobPath(name))
        if (st != null) yield { hash: name, size: st.size }
      }
    }
  }

  pathOf (hash: string): string {
    return this.layout.blobPath(parseHash(hash))
  }

  private async write (reader: SourceReader, signal: AbortSignal, limit: number, expected?: string): Promise<BlobInfo> {
    const tmp = this.layout.tmpPath()
    try {
      return await this.finish(tmp, {
        open: async () => await open(tmp, 'wx', TMP_FILE_MODE),
        content: async fh => await fill(fh, reader, signal, limit)
      }, signal, expected)
    } catch (err) {
      reader.close()
      throw err
    }
  }

  private async adopt (path: string, signal: AbortSignal, limit: number, expected?: string, hashedAs?: string): Promise<BlobInfo> {
    // first into the store's temp directory: the rename that may fail across filesystems fails
    // here, before anything is visible, and the file is then the store's own like any temp file
    const tmp = this.layout.tmpPath()
    try {
      await rename(path, tmp)
    } catch (err: any) {
      if (err?.code !== 'EXDEV') throw new BlobWriteError(`could not move ${path} into the store: ${String(err?.message ?? err)}`, err)
      try {
        return await this.write(new SourceReader(createReadStream(path, { highWaterMark: this.readChunkBytes })), signal, limit, expected)
      } finally {
        await unlink(path).catch(() => {})
      }
    }
    return await this.finish(tmp, {
      open: async () => await open(tmp, 'r+'),
      content: async fh => {
        if (hashedAs == null) return await hashFile(fh, signal, limit, this.readChunkBytes)
        const { size } = await fh.stat()
        if (size > limit) throw new BlobTooLargeError(limit)
        return { hash: hashedAs, size }
      }
    }, signal, expected)
  }

  /**
   * Make the file `tmp` (in the store's temp directory) a blob: open it, let `content` write or
   * read it for its hash and size, check the hash, fsync, make it read-only and rename it into
   * place. On any failure the temp file is removed and nothing is stored.
   */
  private async finish (tmp: string, how: { open: () => Promise<FileHandle>, content: (fh: FileHandle) => Promise<BlobInfo> }, signal: AbortSignal, expected?: string): Promise<BlobInfo> {
    let fh: FileHandle | undefined
    try {
      fh = await disk('open the temp file', how.open)
      const { hash, size } = await how.content(fh)
      if (expected != null && hash !== expected) throw new HashMismatchError(expected, hash)
      const file = fh
      await disk('fsync the temp file', async () => { await file.sync() })
      await disk('make the blob read-only', async () => { await file.chmod(BLOB_FILE_MODE) })
      fh = undefined
      await disk('close the temp file', async () => { await file.close() })
      // the last moment a cancel can still leave nothing behind
      signal.throwIfAborted()
      await this.publish(tmp, hash, size)
      return { hash, size }
    } catch (err) {
      await fh?.close().catch(() => {})
      await unlink(tmp).catch((e: any) => {
        if (e?.code !== 'ENOENT') this.logger.error('could not remove temp file', { path: tmp, err: String(e) })
      })
      throw err
    }
  }

  /** rename the finished temp file to its hash name, unless an intact-looking copy is already there */
  private async publish (tmp: string, hash: string, size: number): Promise<void> {
    const dir = this.layout.fanoutDir(hash)
    const path = this.layout.blobPath(hash)
    const created = await disk('create the blob directory', async () => await mkdir(dir, { recursive: true }))
    const existing = await statBlob(path)
    if (existing?.size === size) {
      // same name, same size: the same bytes unless the disk rotted, which reads detect and quarantine
      await unlink(tmp).catch(() => {})
      this.logger.debug('blob already stored', { hash, size })
      return
    }
    if (existing != null) await this.layout.quarantine(hash, existing.ino, this.logger, `size ${existing.size}, expected ${size}`)
    await disk('rename the blob into place', async () => { await rename(tmp, path) })
    await disk('fsync the blob directory', async () => {
      await fsyncDir(dir)
      if (created != null) await fsyncDir(this.layout.blobsDir)
    })
    this.logger.debug('blob stored', { hash, size })
  }
}

/** stream the source into the temp file, hashing as it goes; one chunk in hand at a time */
async function fill (fh: FileHandle, reader: SourceReader, signal: AbortSignal, limit: number): Promise<BlobInfo> {
  const sha = createHash(HASH_ALGORITHM)
  let size = 0
  for (let chunk = await reader.next(signal); chunk != null; chunk = await reader.next(signal)) {
    if (size + chunk.byteLength > limit) throw new BlobTooLargeError(limit)
    sha.update(chunk)
    const bytes = chunk
    await disk('write the temp file', async () => { await writeAll(fh, bytes) })
    size += chunk.byteLength
  }
  return { hash: sha.digest('hex'), size }
}

/** hash an open file from its start, one chunk in hand at a time */
async function hashFile (fh: FileHandle, signal: AbortSignal, limit: number, chunkBytes: number): Promise<BlobInfo> {
  const sha = createHash(HASH_ALGORITHM)
  const buf = Buffer.allocUnsafe(chunkBytes)
  let size = 0
  for (;;) {
    signal.throwIfAborted()
    const { bytesRead } = await disk('read the adopted file', async () => await fh.read(buf, 0, buf.byteLength, size))
    if (bytesRead === 0) break
    if (size + bytesRead > limit) throw new BlobTooLargeError(limit)
    sha.update(buf.subarray(0, bytesRead))
    size += bytesRead
  }
  return { hash: sha.digest('hex'), size }
}

async function writeAll (fh: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let off = 0; off < chunk.byteLength;) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off)
    if (bytesWritten <= 0) throw new BlobWriteError('a write to the temp file made no progress', undefined)
    off += bytesWritten
  }
}

/** run a filesystem step of a put; its failure becomes ERR_BLOB_WRITE_FAILED with the system error as cause */
async function disk<T> (what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err: any) {
    throw new BlobWriteError(`could not ${what}: ${String(err?.message ?? err)}`, err)
  }
}

function checkMaxBytes (maxBytes: number | undefined): number {
  if (maxBytes == null) return Infinity
  if (typeof maxBytes !== 'number' || Number.isNaN(maxBytes) || maxBytes < 0 || (Number.isFinite(maxBytes) && !Number.isInteger(maxBytes))) {
    throw new InvalidArgumentError(`put: maxBytes must be a non-negative integer, got ${String(maxBytes)}`)
  }
  return maxBytes
}

async function statBlob (path: string): Promise<{ size: number, ino: number } | undefined> {
  try {
    const st = await stat(path)
    return st.isFile() ? { size: st.size, ino: st.ino } : undefined
  } catch (err: any) {
    if (err?.code === 'ENOENT') return undefined
    throw err
  }
}

async function readdirOrEmpty (path: string): Promise<string[]> {
  return await readdir(path).catch((err: any) => {
    if (err?.code === 'ENOENT' || err?.code === 'ENOTDIR') return []
    throw err
  })
}

/** one signal that aborts when either does; the listener is removed afterwards so a long-lived signal does not leak */
function linkSignals (store: AbortSignal, caller?: AbortSignal): { signal: AbortSignal, unlink: () => void } {
  const controller = new AbortController()
  const sources = caller == null ? [store] : [caller, store]
  const already = sources.find(s => s.aborted)
  if (already != null) {
    controller.abort(already.reason)
    return { signal: controller.signal, unlink: () => {} }
  }
  const listeners = sources.map(s => {
    const onAbort = (): void => { controller.abort(s.reason) }
    s.addEventListener('abort', onAbort, { once: true })
    return () => { s.removeEventListener('abort', onAbort) }
  })
  return { signal: controller.signal, unlink: () => { for (const off of listeners) off() } }
}
