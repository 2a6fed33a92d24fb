import { ProtocolError } from '../codec/errors.js'

/** a statement or envelope that is not what the format says (not JSON, missing fields, too large) */
export class MalformedStatementError extends ProtocolError {
  constructor (message: string) {
    super('ERR_MALFORMED_STATEMENT', message)
    this.name = 'MalformedStatementError'
  }
}
