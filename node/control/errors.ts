/** HTTP status for each error code the control API can answer with. */
export const STATUS_BY_CODE: Record<string, number> = {
  ERR_INVALID_INPUT: 400,
  ERR_JOB_FILE: 400,
  ERR_INVALID_HASH: 400,
  ERR_JOB_NOT_FOUND: 404,
  ERR_JOB_AMBIGUOUS: 409,
  ERR_BLOB_NOT_FOUND: 404,
  ERR_HASH_MISMATCH: 500,
  ERR_NOT_FOUND: 404,
  ERR_BODY_TOO_LARGE: 413,
  ERR_UNKNOWN_ROUTE: 404,
  ERR_FORBIDDEN: 403,
  ERR_NOT_IN_MESH: 409,
  ERR_BAD_TOKEN: 400,
  ERR_BAD_KEY_ID: 400,
  ERR_TOKEN_NOT_FOUND: 404,
  ERR_NO_PROVENANCE: 404,
  ERR_MALFORMED_STATEMENT: 400,
  ERR_NIX_EVAL: 400,
  ERR_NIX_CLOSURE: 422,
  ERR_NIX_UNAVAILABLE: 503
}

/** The body of every error reply: a stable code and a one-line message, never a stack. */
export interface ErrorReply {
  error: { code: string, message: string, problems?: Array<{ path: string, message: string }> }
}
