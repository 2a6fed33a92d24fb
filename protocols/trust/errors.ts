import { ProtocolError } from '../codec/errors.js'

/**
 * Typed errors of mesh trust. Callers match on `code`, never on the message.
 * (Records offered to a TrustState are not errors: `add` answers with a reason code instead.)
 */
export class TrustError extends ProtocolError {
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'TrustError'
  }
}

/** a join token that is garbled, oversized, expired or does not prove itself */
export class BadTokenError extends TrustError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_BAD_TOKEN', `bad join token: ${message}`, options)
    this.name = 'BadTokenError'
  }
}

/** mesh information whose fields are missing or whose id does not match its contents */
export class BadMeshError extends TrustError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_BAD_MESH', `bad mesh information: ${message}`, options)
    this.name = 'BadMeshError'
  }
}

/** a trust record that cannot be made as asked (bad roles, key length, times) */
export class BadRecordError extends TrustError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_BAD_RECORD', message, options)
    this.name = 'BadRecordError'
  }
}

/** a key id that is not the peer id of an Ed25519 key */
export class BadKeyIdError extends TrustError {
  constructor (keyId: string, options?: { cause?: unknown }) {
    super('ERR_BAD_KEY_ID', `${JSON.stringify(keyId)} is not the id of an Ed25519 key`, options)
    this.name = 'BadKeyIdError'
  }
}

/** an option given to a constructor that is out of range */
export class InvalidOptionError extends TrustError {
  constructor (message: string) {
    super('ERR_INVALID_OPTION', message)
    this.name = 'InvalidOptionError'
  }
}
