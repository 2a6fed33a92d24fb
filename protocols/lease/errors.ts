import { ProtocolError } from '../codec/errors.js'

/** why a lease record was refused (the `reason` of ERR_INVALID_LEASE) */
export type LeaseRejection =
  | 'too-large' | 'malformed' | 'bad-signature' | 'signer-not-holder'
  | 'bad-key' | 'key-mismatch' | 'not-builder' | 'ttl' | 'future' | 'expired'

/** a lease record that is not valid: malformed, badly signed, or refused by the validator's rules */
export class InvalidLeaseError extends ProtocolError {
  constructor (readonly reason: LeaseRejection, message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_LEASE', `invalid lease record (${reason}): ${message}`, options)
    this.name = 'InvalidLeaseError'
  }
}

/** a caller passed a bad argument (a job id that is not 64 hex, an epoch below 1…) */
export class InvalidLeaseArgumentError extends ProtocolError {
  constructor (message: string) {
    super('ERR_INVALID_ARGUMENT', message)
    this.name = 'InvalidLeaseArgumentError'
  }
}

/** LeaseManager options are invalid; the message names each problem */
export class InvalidLeaseOptionError extends ProtocolError {
  constructor (readonly problems: string[]) {
    super('ERR_INVALID_OPTION', `invalid lease options: ${problems.join('; ')}`)
    this.name = 'InvalidLeaseOptionError'
  }
}

/** a LeaseManager call before start() or after stop() */
export class LeaseNotStartedError extends ProtocolError {
  constructor () {
    super('ERR_NOT_STARTED', 'the lease manager is not started')
    this.name = 'LeaseNotStartedError'
  }
}

/** a DHT read or put got no answer from any peer before its deadline */
export class LeaseTimeoutError extends ProtocolError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_TIMEOUT', message, options)
    this.name = 'LeaseTimeoutError'
  }
}

/** the caller's signal aborted, or the manager stopped */
export class LeaseAbortedError extends ProtocolError {
  constructor (message = 'lease operation aborted', options?: { cause?: unknown }) {
    super('ERR_ABORTED', message, options)
    this.name = 'LeaseAbortedError'
  }
}

/** a put that no peer accepted, or a read that no peer answered: the DHT cannot be relied on now */
export class LeaseUnreachableError extends ProtocolError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_LEASE_UNREACHABLE', message, options)
    this.name = 'LeaseUnreachableError'
  }
}
