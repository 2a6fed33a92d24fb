import type { Readable } from 'node:stream'

export interface AbortOptions { signal?: AbortSignal }

export interface BlobInfo {
  /** 64 lowercase hex digits */
  hash: string
  size: number
}

export interface PutOptions extends AbortOptions {
  /** refuse (ERR_BLOB_TOO_LARGE) and store nothing past this many bytes */
  maxBytes?: number
  /** when given, the bytes must hash to this (ERR_HASH_MISMATCH otherwise; nothing is stored) */
  expectedHash?: string
  /**
   * `adoptFile` only: the caller hashed this file's exact bytes itself, in one pass as they were
   * written, and got this; the store takes it instead of reading the file again. Every other
   * put (and an adoption without it) is hashed by the store.
   */
  hashedAs?: string
}

export interface GetOptions extends AbortOptions {
  /** first byte, inclusive (default 0) */
  start?: number
  /** last byte, exclusive (default the blob's size) */
  end?: number
  /** bytes per chunk read (default the store's; bulk readers ask for more, so fewer reads wait on the disk) */
  chunkBytes?: number
}

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Readable

/**
 * A content-addressed blob store: blobs are named by the sha256 of their bytes.
 * Writes are atomic (temp file, fsync, rename); reads are verified.
 */
export interface BlobStore {
  start: () => Promise<void>
  stop: () => Promise<void>
  /**
   * store bytes streamed from `source`; never holds the whole blob in memory. On any failure (ERR_BLOB_TOO_LARGE,
   * ERR_HASH_MISMATCH, abort, the source throwing, ERR_BLOB_WRITE_FAILED) nothing is stored.
   */
  put: (source: ByteSource, options?: PutOptions) => Promise<BlobInfo>
  /** store a file by path (streamed) */
  putFile: (path: string, options?: PutOptions) => Promise<BlobInfo>
  /**
   * Take over a finished file as a blob: hash it once, fsync it and rename it into place, without
   * copying it (a copy when it is on another filesystem). The file is the store's from the call
   * on: it is gone afterwards, stored or not. Same errors and guarantees as `put`.
   */
  adoptFile: (path: string, options?: PutOptions) => Promise<BlobInfo>
  /**
   * stream a blob's bytes. A whole-blob read is verified as it streams: the final chunk is
   * withheld until the hash checks, and a mismatch throws ERR_HASH_MISMATCH (the blob is quarantined).
   * A ranged read cannot be verified by itself: callers verify the assembled whole.
   * Errors (ERR_INVALID_HASH, ERR_INVALID_RANGE, ERR_BLOB_NOT_FOUND) surface on the first iteration.
   */
  get: (hash: string, options?: GetOptions) => AsyncIterable<Uint8Array>
  /** read the whole blob and verify it: true when intact; ERR_HASH_MISMATCH if corrupt, ERR_BLOB_NOT_FOUND if absent */
  verify: (hash: string, options?: AbortOptions) => Promise<boolean>
  has: (hash: string) => Promise<boolean>
  /** size and hash; throws ERR_BLOB_NOT_FOUND */
  stat: (hash: string) => Promise<BlobInfo>
  /** deleting an absent blob is not an error */
  delete: (hash: string) => Promise<void>
  list: (options?: AbortOptions) => AsyncIterable<BlobInfo>
  /** the on-disk path of a stored blob (for copying out with `fetch -o`) */
  pathOf: (hash: string) => string
}
