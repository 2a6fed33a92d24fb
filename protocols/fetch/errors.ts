import { ProtocolError } from '../codec/errors.js'
import type { FrameErrors } from '../codec/frames.js'

/**
 * Errors of the fetch protocol, matched on `code`. Wire-level ones shared with other protocols
 * (ERR_MALFORMED, ERR_TOO_LARGE) come from `protocols/codec/errors.ts`.
 */

/** the holder answered with an error status instead of data (`remoteCode` says which) */
export class FetchRemoteError extends ProtocolError {
  constructor (readonly remoteCode: string) {
    super('ERR_REMOTE', `the holder refused the fetch request: ${remoteCode}`)
    this.name = 'FetchRemoteError'
  }
}

/** the peer sent nothing within the read deadline, or the request ran out of time */
export class FetchTimeoutError extends ProtocolError {
  constructor (message: string) {
    super('ERR_TIMEOUT', message)
    this.name = 'FetchTimeoutError'
  }
}

/** the request was cancelled: the caller's signal or the service stopping */
export class FetchAbortedError extends ProtocolError {
  constructor (message = 'fetch cancelled') {
    super('ERR_ABORTED', message)
    this.name = 'FetchAbortedError'
  }
}

/** the holder ended the stream before sending every byte of the range */
export class FetchTruncatedError extends ProtocolError {
  constructor (readonly received: number, readonly expected: number) {
    super('ERR_TRUNCATED', `the holder sent ${received} of ${expected} bytes, then ended the stream`)
    this.name = 'FetchTruncatedError'
  }
}

/** the holder's copy has another size than the caller expected (a corrupt or different file) */
export class FetchSizeMismatchError extends ProtocolError {
  constructor (readonly expected: number, readonly actual: number) {
    super('ERR_SIZE_MISMATCH', `the holder's blob is ${actual} bytes, expected ${expected}`)
    this.name = 'FetchSizeMismatchError'
  }
}

/** a client granted more credit than the server allows outstanding */
export class FetchWindowError extends ProtocolError {
  constructor (readonly outstanding: number, readonly limit: number) {
    super('ERR_WINDOW', `outstanding credit of ${outstanding} bytes is over the limit of ${limit}`)
    this.name = 'FetchWindowError'
  }
}

/** an argument of a fetch call is not what the protocol accepts */
export class InvalidFetchArgumentError extends ProtocolError {
  constructor (message: string) {
    super('ERR_INVALID_ARGUMENT', message)
    this.name = 'InvalidFetchArgumentError'
  }
}

/** no stream to the holder could be opened (not connected, not reachable, no fetch protocol) */
export class FetchUnreachableError extends ProtocolError {
  constructor (peer: string, options: { cause: unknown }) {
    super('ERR_UNREACHABLE', `could not open a fetch stream to ${peer}`, options)
    this.name = 'FetchUnreachableError'
  }
}

/** the peer reset the stream, or its connection closed, in the middle of a request */
export class FetchResetError extends ProtocolError {
  constructor (options: { cause: unknown }) {
    super('ERR_RESET', 'the peer reset the fetch stream', options)
    this.name = 'FetchResetError'
  }
}

/** how the shared frame reader and writer word fetch's failures */
export const FETCH_ERRORS: FrameErrors = {
  aborted: () => new FetchAbortedError(),
  timeout: message => new FetchTimeoutError(message),
  reset: cause => new FetchResetError({ cause })
}

/** the holder has no bulk channel for us (an older peer, the channel off, its port unreachable): use `fetchRange` */
export class FetchBulkUnavailableError extends ProtocolError {
  constructor (readonly where: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_BULK_UNAVAILABLE', `no bulk channel to ${where}: ${reason}`, options)
    this.name = 'FetchBulkUnavailableError'
  }
}
