/**
 * Typed errors of the executor. A job that fails is not an error (it is a RunResult); these
 * are for requests the executor cannot act on. Callers match on `code`.
 */
import { NodeError } from '../errors.js'

/** a constructor option is out of range or of the wrong kind */
export class InvalidExecutorOptionError extends NodeError {
  constructor (option: string, message: string) {
    super('ERR_INVALID_EXECUTOR_OPTION', `${option}: ${message}`)
    this.name = 'InvalidExecutorOptionError'
  }
}

/** a RunRequest cannot be run as given (bad job name, bad param name, bad timeout, ...) */
export class InvalidRunRequestError extends NodeError {
  constructor (readonly field: string, message: string) {
    super('ERR_INVALID_RUN_REQUEST', `${field}: ${message}`)
    this.name = 'InvalidRunRequestError'
  }
}

/** a run was asked for with a job id that is already running here */
export class JobAlreadyRunningError extends NodeError {
  constructor (readonly jobId: string) {
    super('ERR_JOB_ALREADY_RUNNING', `job ${jobId} is already running on this node`)
    this.name = 'JobAlreadyRunningError'
  }
}

/**
 * the run's `ready` rejected before its first process started: nothing ran, nothing was recorded
 * (the runner set the run up while its claim was in flight, and the claim did not win)
 */
export class RunCalledOffError extends NodeError {
  constructor (readonly jobId: string) {
    super('ERR_RUN_CALLED_OFF', `the run of job ${jobId} was called off before it started`)
    this.name = 'RunCalledOffError'
  }
}

/** write/resize for a job that is not running on this node */
export class JobNotRunningError extends NodeError {
  constructor (readonly jobId: string) {
    super('ERR_JOB_NOT_RUNNING', `job ${jobId} is not running on this node`)
    this.name = 'JobNotRunningError'
  }
}

/** no shell to run steps with was found on this machine */
export class NoShellError extends NodeError {
  constructor (tried: readonly string[]) {
    super('ERR_NO_SHELL', `no shell found (tried ${tried.join(', ')})`)
    this.name = 'NoShellError'
  }
}

/** a job's cgroups could not be created though the machine offers them */
export class CgroupError extends NodeError {
  constructor (message: string) {
    super('ERR_CGROUP', message)
    this.name = 'CgroupError'
  }
}

/** a terminal size outside 1..MAX_TERMINAL_COLS × 1..MAX_TERMINAL_ROWS */
export class InvalidTerminalSizeError extends NodeError {
  constructor (cols: unknown, rows: unknown) {
    super('ERR_INVALID_TERMINAL_SIZE', `not a usable terminal size: ${String(cols)}x${String(rows)}`)
    this.name = 'InvalidTerminalSizeError'
  }
}
