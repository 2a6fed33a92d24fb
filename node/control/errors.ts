import { errorEntry } from '../error-codes.js'

/** HTTP status of an error reply: the error table's (node/error-codes.ts); unknown codes are 500. */
export function httpStatusFor (code: unknown): number {
  return errorEntry(code).http
}

/** The body of every error reply: a stable code and a one-line message, never a stack. */
export interface ErrorReply {
  error: { code: string, message: string, problems?: Array<{ path: string, message: string }> }
}
