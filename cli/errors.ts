import { ERRORS, EXIT, errorEntry, isKnownCode } from '../node/error-codes.js'
import type { ErrorCode } from '../node/error-codes.js'

export { EXIT }

/**
 * An error the CLI reports in one line. Its exit status comes from the error table
 * (node/error-codes.ts) by its code, as does the hint printed after the message.
 */
export class CliError extends Error {
  readonly code: string
  readonly exitCode: number
  /**
   * `exit` overrides the table's status where a command gives a code its own meaning (`verify`
   * exits 1 for a signature that does not check: the verification's outcome, not an error).
   */
  constructor (code: ErrorCode | string, message: string, readonly details: string[] = [], exit?: number) {
    super(message)
    this.name = 'CliError'
    this.code = code
    this.exitCode = exit ?? exitCodeFor(code)
  }
}

export class UsageError extends CliError {
  constructor (message: string, details: string[] = []) {
    super('ERR_USAGE', message, details)
    this.name = 'UsageError'
  }
}

export class DaemonUnreachableError extends CliError {
  constructor (home: string, cause?: string) {
    super('ERR_DAEMON_UNREACHABLE', `no daemon is running for ${home}${cause != null ? ` (${cause})` : ''}: start one with \`cit-node start -d\``)
    this.name = 'DaemonUnreachableError'
  }
}

/** The exit status for an error code from the daemon, the CLI or the libraries (the error table's). */
export function exitCodeFor (code: unknown): number {
  return errorEntry(code).exit
}

/** The error table's hint for a code, when the message does not already carry it. */
export function hintFor (code: unknown, message: string): string | undefined {
  if (!isKnownCode(code)) return undefined
  const hint = (ERRORS[code] as { hint?: string }).hint
  return hint != null && !message.includes(hint) ? hint : undefined
}
