/** Exit statuses (DESIGN.md): 0 success, 1 the job failed, 2 bad usage or input, 3 daemon or mesh unreachable. */
export const EXIT = { OK: 0, JOB_FAILED: 1, USAGE: 2, UNREACHABLE: 3, INTERNAL: 70 } as const

/** An error the CLI reports in one line and exits with a fixed status. */
export class CliError extends Error {
  readonly code: string
  constructor (code: string, message: string, readonly exitCode: number, readonly details: string[] = []) {
    super(message)
    this.name = 'CliError'
    this.code = code
  }
}

export class UsageError extends CliError {
  constructor (message: string, details: string[] = []) {
    super('ERR_USAGE', message, EXIT.USAGE, details)
  }
}

export class DaemonUnreachableError extends CliError {
  constructor (home: string, cause?: string) {
    super('ERR_DAEMON_UNREACHABLE', `no daemon is running for ${home}${cause != null ? ` (${cause})` : ''}: start one with \`cit-node start\``, EXIT.UNREACHABLE)
  }
}

/** error codes from the daemon that mean the user's input was wrong */
const INPUT_CODES = new Set([
  'ERR_INVALID_INPUT', 'ERR_JOB_FILE', 'ERR_INVALID_HASH', 'ERR_JOB_NOT_FOUND', 'ERR_JOB_AMBIGUOUS', 'ERR_BLOB_NOT_FOUND',
  'ERR_BODY_TOO_LARGE', 'ERR_USAGE', 'ERR_DAEMON_RUNNING', 'ERR_FORBIDDEN', 'ERR_NOT_IN_MESH', 'ERR_BAD_TOKEN', 'ERR_BAD_KEY_ID',
  'ERR_MEMBERSHIP', 'ERR_ALREADY_IN_MESH', 'ERR_JOIN_REFUSED', 'ERR_TOKEN_NOT_FOUND', 'ERR_HOME_PERMISSIONS'
])

/** The exit status for an error code from the daemon or the libraries. */
export function exitCodeFor (code: string | undefined): number {
  if (code == null) return EXIT.INTERNAL
  if (INPUT_CODES.has(code)) return EXIT.USAGE
  if (code === 'ERR_DAEMON_UNREACHABLE' || code === 'ERR_JOIN_UNREACHABLE') return EXIT.UNREACHABLE
  return EXIT.INTERNAL
}
