import { ERRORS } from '../error-codes.js'
import { NodeError } from '../errors.js'

/**
 * HTTP status for each error code: the error table's (node/error-codes.ts), the same the control
 * API answers with. One table, so a code means the same status on every route and every face.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<string, number>> = Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.http]))

/** The body of every error reply of the HTTP face: a stable code and a one-line message, never a stack. */
export interface HttpErrorBody {
  code: string
  message: string
  /** for invalid input: each problem by its dotted path */
  problems?: Array<{ path: string, message: string }>
}

/** An error a route throws to answer with a given code (and so status). */
export class HttpError extends NodeError {
  constructor (code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(code, message)
    this.name = 'HttpError'
  }
}

/** Fastify's own error codes, mapped to ours (body parsing, validation, limits). */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_INVALID_INPUT',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_INVALID_INPUT',
  FST_ERR_VALIDATION: 'ERR_INVALID_INPUT'
}

/** the code and status an error is answered with */
export function classify (err: any): { status: number, body: HttpErrorBody } {
  let code: string = typeof err?.code === 'string' ? err.code : 'ERR_INTERNAL'
  code = FASTIFY_CODES[code] ?? code
  // any other trouble with the body (bad JSON, bad encoding) is bad input
  if (code.startsWith('FST_ERR_CTP_') && err?.statusCode >= 400 && err?.statusCode < 500) code = 'ERR_INVALID_INPUT'
  // a body that is not JSON: Fastify reports it as a SyntaxError with status 400
  if (code === 'ERR_INTERNAL' && err?.statusCode === 400) code = 'ERR_INVALID_INPUT'
  const status = HTTP_STATUS_BY_CODE[code] ?? (code.startsWith('FST_') && err?.statusCode >= 400 && err?.statusCode < 500 ? err.statusCode : 500)
  const message = status === 500 && !(err instanceof NodeError) ? 'internal error (see the daemon log)' : String(err?.message ?? err)
  const body: HttpErrorBody = { code: status === 500 && code.startsWith('FST_') ? 'ERR_INTERNAL' : code, message }
  if (Array.isArray(err?.problems)) body.problems = err.problems
  else if (Array.isArray(err?.validation)) body.problems = err.validation.map((v: any) => ({ path: String(v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.') || String(v.params?.missingProperty ?? ''), message: String(v.message ?? 'invalid') }))
  return { status, body }
}
