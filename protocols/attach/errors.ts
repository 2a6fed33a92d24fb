import { ProtocolError } from '../codec/errors.js'

/**
 * Errors of the attach protocol, matched on `code`. Wire-level ones shared with other protocols
 * (ERR_MALFORMED, ERR_TOO_LARGE) come from `protocols/codec/errors.ts`.
 */

/** the codes a server answers a hello with instead of `ok` (the reply never carries details) */
export const ATTACH_REPLY_CODES = ['ERR_NOT_ALLOWED', 'ERR_NOT_RUNNING', 'ERR_BUSY', 'ERR_MALFORMED', 'ERR_INTERNAL'] as const
export type AttachReplyCode = typeof ATTACH_REPLY_CODES[number]

/**
 * The node refused the session. `code` is the node's reply code (ERR_NOT_ALLOWED, ERR_NOT_RUNNING,
 * ERR_BUSY, ERR_MALFORMED, ERR_INTERNAL); a code this version does not know becomes ERR_REMOTE
 * with the node's code in `remoteCode`.
 */
export class AttachRefusedError extends ProtocolError {
  readonly remoteCode: string
  constructor (remoteCode: string) {
    const known = (ATTACH_REPLY_CODES as readonly string[]).includes(remoteCode)
    super(known ? remoteCode : 'ERR_REMOTE', `the node refused the attach request: ${remoteCode}`)
    this.name = 'AttachRefusedError'
    this.remoteCode = remoteCode
  }
}

/** nothing heard from the peer within the idle limit, or no reply/hello in time */
export class AttachTimeoutError extends ProtocolError {
  constructor (message: string) {
    super('ERR_TIMEOUT', message)
    this.name = 'AttachTimeoutError'
  }
}

/** the caller cancelled, or the service stopped */
export class AttachAbortedError extends ProtocolError {
  constructor (message = 'attach session cancelled') {
    super('ERR_ABORTED', message)
    this.name = 'AttachAbortedError'
  }
}

/** (server side) an open session whose peer is no longer allowed: it is reset */
export class AttachNotAllowedError extends ProtocolError {
  constructor (peer: string) {
    super('ERR_NOT_ALLOWED', `peer ${peer} is no longer allowed to attach`)
    this.name = 'AttachNotAllowedError'
  }
}

/** input or a resize on a read-only session */
export class AttachReadOnlyError extends ProtocolError {
  constructor () {
    super('ERR_READ_ONLY', 'this attach session is read-only: keys and resizes are not sent')
    this.name = 'AttachReadOnlyError'
  }
}

/** the session is over (ended, detached, or the stream was closed or reset by the other side) */
export class AttachClosedError extends ProtocolError {
  constructor (message = 'the attach session is closed', options?: { cause?: unknown }) {
    super('ERR_CLOSED', message, options)
    this.name = 'AttachClosedError'
  }
}

/** output beyond the credit the client granted, or credit beyond what the server accepts */
export class AttachWindowError extends ProtocolError {
  constructor (message: string) {
    super('ERR_WINDOW', message)
    this.name = 'AttachWindowError'
  }
}

/** an argument of an attach call is not what the protocol accepts */
export class InvalidAttachArgumentError extends ProtocolError {
  constructor (message: string) {
    super('ERR_INVALID_ARGUMENT', message)
    this.name = 'InvalidAttachArgumentError'
  }
}

/** no attach stream to the node could be opened (not connected, not reachable, no attach protocol) */
export class AttachUnreachableError extends ProtocolError {
  constructor (peer: string, options: { cause: unknown }) {
    super('ERR_UNREACHABLE', `could not open an attach stream to ${peer}`, options)
    this.name = 'AttachUnreachableError'
  }
}
