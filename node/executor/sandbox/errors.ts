/**
 * Typed errors of the job sandbox. Callers match on `code`.
 */
import { NodeError } from '../../errors.js'

/** this machine cannot sandbox jobs (no bubblewrap, no user namespaces, a failed probe): the node runs with isolation `none` */
export class SandboxUnavailableError extends NodeError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_SANDBOX_UNAVAILABLE', message, options)
    this.name = 'SandboxUnavailableError'
  }
}

/** one job's sandbox could not be set up, or ended under the job: the run fails, nothing runs unsandboxed */
export class SandboxFailedError extends NodeError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_SANDBOX_FAILED', message, options)
    this.name = 'SandboxFailedError'
  }
}
