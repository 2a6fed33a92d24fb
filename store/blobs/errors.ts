import { StoreError } from '../errors.js'

/**
 * Errors particular to the blob store. The shared ones (ERR_INVALID_HASH, ERR_BLOB_NOT_FOUND, ERR_HASH_MISMATCH,
 * ERR_BLOB_TOO_LARGE) live in `store/errors.ts`; callers match on `code`.
 */

/** a read asked for bytes outside the blob, or a range that is not a pair of whole numbers */
export class InvalidRangeError extends StoreError {
  constructor (message: string) {
    super('ERR_INVALID_RANGE', message)
    this.name = 'InvalidRangeError'
  }
}

/** an option or a chunk of a put's source is not what the store accepts */
export class InvalidArgumentError extends StoreError {
  constructor (message: string) {
    super('ERR_INVALID_ARGUMENT', message)
    this.name = 'InvalidArgumentError'
  }
}

/** writing to the store's disk failed (full disk, permissions, I/O error); the cause is the system error */
export class BlobWriteError extends StoreError {
  constructor (message: string, cause: unknown) {
    super('ERR_BLOB_WRITE_FAILED', message, { cause })
    this.name = 'BlobWriteError'
  }
}

/** the store is not started, or was stopped while a put was in flight */
export class StoreStoppedError extends StoreError {
  constructor (message = 'the blob store is not running') {
    super('ERR_STORE_STOPPED', message)
    this.name = 'StoreStoppedError'
  }
}
