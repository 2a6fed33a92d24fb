/**
 * Content-addressed blobs: bytes stored under the sha256 of their content.
 *
 * `FsBlobStore` keeps them as read-only files `<dir>/sha256/<2 hex>/<hash>`. A put streams through a temp file in
 * `<dir>/tmp/` (hashed as written, fsynced, renamed, directory fsynced), so a hash name only ever holds complete
 * bytes. Whole-blob reads are verified as they stream; a corrupt blob is moved to `<dir>/quarantine/`.
 * Hashes print and store as 64 lowercase hex digits; `parseHash` also accepts upper case and a `sha256:` prefix.
 * See docs/store.md for the guarantees.
 */
export { FsBlobStore } from './fs-blob-store.js'
export type { FsBlobStoreComponents, FsBlobStoreInit } from './fs-blob-store.js'
export { parseHash, isHash } from './hash.js'
export { InvalidRangeError, InvalidArgumentError, BlobWriteError, StoreStoppedError } from './errors.js'
export { BlobNotFoundError, BlobTooLargeError, HashMismatchError, InvalidHashError, StoreError } from '../errors.js'
export * from './constants.js'
export type { BlobStore, BlobInfo, ByteSource, GetOptions, PutOptions, AbortOptions } from './types.js'
