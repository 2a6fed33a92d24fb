/**
 * Typed errors of the daemon. The control API sends `code` to the CLI, which maps it to an exit status.
 */
export class NodeError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NodeError'
    this.code = code
  }
}

/** bad input from the user: a job file, a flag, a reference (exit status 2) */
export class InvalidInputError extends NodeError {
  constructor (message: string, readonly problems: Array<{ path: string, message: string }> = []) {
    super('ERR_INVALID_INPUT', message)
    this.name = 'InvalidInputError'
  }
}

export class JobNotFoundError extends NodeError {
  constructor (ref: string, why?: string) {
    super('ERR_JOB_NOT_FOUND', `no job matches ${JSON.stringify(ref)}${why != null ? `: ${why}` : ''}`)
    this.name = 'JobNotFoundError'
  }
}

export class AmbiguousJobError extends NodeError {
  constructor (ref: string, count: number) {
    super('ERR_JOB_AMBIGUOUS', `${JSON.stringify(ref)} matches ${count} jobs: give more of the id`)
    this.name = 'AmbiguousJobError'
  }
}

export class DaemonRunningError extends NodeError {
  constructor (pid: number) {
    super('ERR_DAEMON_RUNNING', `a daemon is already running for this home (pid ${pid})`)
    this.name = 'DaemonRunningError'
  }
}

export class NotStartedError extends NodeError {
  constructor (what: string) {
    super('ERR_NOT_STARTED', `${what} is not started`)
    this.name = 'NotStartedError'
  }
}
