/**
 * Typed errors of the wire layer. Callers match on `code`.
 */
export class ProtocolError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ProtocolError'
    this.code = code
  }
}

/** bytes that are not a well-formed message of the expected shape */
export class MalformedMessageError extends ProtocolError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_MALFORMED', message, options)
    this.name = 'MalformedMessageError'
  }
}

/** a message larger than the limit for its kind */
export class MessageTooLargeError extends ProtocolError {
  constructor (readonly size: number, readonly limit: number) {
    super('ERR_TOO_LARGE', `message of ${size} bytes is over the limit of ${limit}`)
    this.name = 'MessageTooLargeError'
  }
}

/** a signature that does not verify against the key it names */
export class BadSignatureError extends ProtocolError {
  constructor (message = 'signature does not verify') {
    super('ERR_BAD_SIGNATURE', message)
    this.name = 'BadSignatureError'
  }
}

/** a stream read or write cancelled by the caller's signal */
export class StreamAbortedError extends ProtocolError {
  constructor (message = 'stream cancelled') {
    super('ERR_ABORTED', message)
    this.name = 'StreamAbortedError'
  }
}

/** nothing from the peer within a read deadline */
export class StreamTimeoutError extends ProtocolError {
  constructor (message: string) {
    super('ERR_TIMEOUT', message)
    this.name = 'StreamTimeoutError'
  }
}

/** the stream failed under a read or a write: reset by the peer, or its connection dropped */
export class StreamResetError extends ProtocolError {
  constructor (options: { cause: unknown }) {
    super('ERR_RESET', 'the peer reset the stream', options)
    this.name = 'StreamResetError'
  }
}

/** a well-formed message whose bytes are not the one canonical encoding of what it says */
export class NonCanonicalError extends ProtocolError {
  constructor (message: string) {
    super('ERR_NON_CANONICAL', message)
    this.name = 'NonCanonicalError'
  }
}
