/**
 * Typed errors of the store layer. Callers match on `code`, never on message text.
 */
export class StoreError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreError'
    this.code = code
  }
}

/** a hash string is not 64 lowercase hex digits (optionally prefixed `sha256:`) */
export class InvalidHashError extends StoreError {
  constructor (hash: string) {
    super('ERR_INVALID_HASH', `not a sha256 hash: ${JSON.stringify(hash.slice(0, 80))}`)
    this.name = 'InvalidHashError'
  }
}

/** no blob with this hash is stored here */
export class BlobNotFoundError extends StoreError {
  constructor (readonly hash: string) {
    super('ERR_BLOB_NOT_FOUND', `blob ${hash} not found`)
    this.name = 'BlobNotFoundError'
  }
}

/** the bytes read or received do not hash to the name they were asked for by */
export class HashMismatchError extends StoreError {
  constructor (readonly expected: string, readonly actual: string) {
    super('ERR_HASH_MISMATCH', `blob ${expected} is corrupt: its bytes hash to ${actual}`)
    this.name = 'HashMismatchError'
  }
}

/** a put went over the caller's size limit */
export class BlobTooLargeError extends StoreError {
  constructor (readonly limit: number) {
    super('ERR_BLOB_TOO_LARGE', `blob larger than the limit of ${limit} bytes`)
    this.name = 'BlobTooLargeError'
  }
}

/** a record was not found in the metadata store */
export class NotFoundError extends StoreError {
  constructor (what: string) {
    super('ERR_NOT_FOUND', `${what} not found`)
    this.name = 'NotFoundError'
  }
}
