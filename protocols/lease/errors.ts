import { ProtocolError } from '../codec/errors.js'

/** a caller passed a bad argument (a job id that is not 64 hex, an epoch below 1, no acceptors) */
export class InvalidLeaseArgumentError extends ProtocolError {
  constructor (message: string) {
    super('ERR_INVALID_ARGUMENT', message)
    this.name = 'InvalidLeaseArgumentError'
  }
}

/** a lease message that is malformed, badly signed or not what was asked for */
export class InvalidLeaseMessageError extends ProtocolError {
  constructor (readonly reason: string, message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_LEASE', `invalid lease message (${reason}): ${message}`, options)
    this.name = 'InvalidLeaseMessageError'
  }
}

/** a call before start() or after stop() */
export class LeaseNotStartedError extends ProtocolError {
  constructor () {
    super('ERR_NOT_STARTED', 'the lease service is not started')
    this.name = 'LeaseNotStartedError'
  }
}

/** an acceptor did not answer before the deadline */
export class LeaseTimeoutError extends ProtocolError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_TIMEOUT', message, options)
    this.name = 'LeaseTimeoutError'
  }
}

/** the caller's signal aborted, or the service stopped */
export class LeaseAbortedError extends ProtocolError {
  constructor (message = 'lease operation aborted', options?: { cause?: unknown }) {
    super('ERR_ABORTED', message, options)
    this.name = 'LeaseAbortedError'
  }
}

/** no link to the acceptor could be used */
export class LeaseUnreachableError extends ProtocolError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_LEASE_UNREACHABLE', message, options)
    this.name = 'LeaseUnreachableError'
  }
}
