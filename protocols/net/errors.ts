import { ProtocolError } from '../codec/errors.js'

/** an option given to the connection layer is invalid; the message names each problem */
export class InvalidMeshOptionError extends ProtocolError {
  constructor (readonly problems: string[]) {
    super('ERR_INVALID_OPTION', `invalid mesh options: ${problems.join('; ')}`)
    this.name = 'InvalidMeshOptionError'
  }
}
