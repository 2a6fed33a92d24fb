import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { BlobNotFoundError, HashMismatchError } from '../errors.js'
import { HASH_ALGORITHM } from './constants.js'
import { InvalidRangeError } from './errors.js'
import { parseHash } from './hash.js'
import type { BlobLayout } from './layout.js'
import type { GetOptions } from './types.js'
import type { FileHandle } from 'node:fs/promises'

export interface ReadBlobInit {
  layout: BlobLayout
  /** as given by the caller: validated here */
  hash: string
  options: GetOptions
  chunkBytes: number
  /** called when a whole-blob read finds the bytes do not match the name, before the error is thrown */
  onCorrupt: (hash: string, ino: number, actual: string) => Promise<void>
}

/**
 * Stream a blob (or a range of it) from disk. Every error, including a bad hash or range, surfaces on the first
 * iteration, so callers handle one kind of failure. A whole-blob read holds back its final chunk until the hash
 * checks: a consumer that writes the chunks out never completes a file from corrupt bytes.
 */
export async function * readBlob (init: ReadBlobInit): AsyncGenerator<Uint8Array, void, undefined> {
  const { options } = init
  const hash = parseHash(init.hash)
  checkBound('start', options.start)
  checkBound('end', options.end)
  options.signal?.throwIfAborted()
  const fh = await openBlob(init.layout.blobPath(hash), hash)
  try {
    // size and inode from the open file, not the name: a delete or replace after open cannot skew the read
    const st = await fh.stat()
    const start = options.start ?? 0
    const end = options.end ?? st.size
    if (start > end || end > st.size) {
      throw new InvalidRangeError(`range ${start}-${end} is outside blob ${hash} of ${st.size} bytes (start <= end <= size)`)
    }
    if (start !== 0 || end !== st.size) {
      yield * chunks(fh, start, end, init.chunkBytes, options.signal)
      return
    }
    const sha = createHash(HASH_ALGORITHM)
    let held: Uint8Array | undefined
    for await (const chunk of chunks(fh, 0, st.size, init.chunkBytes, options.signal)) {
      sha.update(chunk)
      if (held != null) yield held
      held = chunk
    }
    const actual = sha.digest('hex')
    if (actual !== hash) {
      await init.onCorrupt(hash, st.ino, actual)
      throw new HashMismatchError(hash, actual)
    }
    if (held != null) yield held
  } finally {
    await fh.close()
  }
}

async function * chunks (fh: FileHandle, start: number, end: number, chunkBytes: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  for (let pos = start; pos < end;) {
    signal?.throwIfAborted()
    // a fresh buffer per chunk: the consumer may keep the one we yielded
    const buf = Buffer.allocUnsafe(Math.min(chunkBytes, end - pos))
    const { bytesRead } = await fh.read(buf, 0, buf.byteLength, pos)
    // the file shrank under us; stored blobs are read-only so only outside tampering does this, and the hash catches it
    if (bytesRead === 0) return
    pos += bytesRead
    yield bytesRead === buf.byteLength ? buf : buf.subarray(0, bytesRead)
  }
}

async function openBlob (path: string, hash: string): Promise<FileHandle> {
  try {
    return await open(path, 'r')
  } catch (err: any) {
    if (err?.code === 'ENOENT') throw new BlobNotFoundError(hash)
    throw err
  }
}

function checkBound (name: string, value: unknown): void {
  if (value == null) return
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidRangeError(`range ${name} must be a non-negative integer, got ${String(value)}`)
  }
}
