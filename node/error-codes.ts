/**
 * The one table of error codes: for each stable `code` an error can carry, its class (what kind
 * of failure it is), the HTTP status the control API answers with, the exit status of the
 * `cit-node` command, and a hint for people when the message itself does not say what to do.
 *
 * The control server (node/control/server.ts) and the CLI (cli/errors.ts) derive their mappings
 * from it; docs/cli.md lists it, and a test checks the page, and every code thrown anywhere in the
 * source, against it.
 */

/** Exit statuses of the `cit-node` command (docs/cli.md, "Exit statuses"). */
export const EXIT = {
  /** success */
  OK: 0,
  /** the job failed, timed out or was cancelled (`run`, `submit --wait`, `attach`) */
  JOB_FAILED: 1,
  /** bad usage or bad input: an unknown command or flag, a broken file, an unknown job or blob, a missing role */
  USAGE: 2,
  /** the daemon or the mesh could not be reached, started, or could not serve the request */
  UNREACHABLE: 3,
  /** data did not verify (a corrupt blob, a bad signature): nothing was written */
  INTEGRITY: 4,
  /** an internal error: a bug, with its stack in the output or the daemon log */
  INTERNAL: 70
} as const

export type ExitStatus = typeof EXIT[keyof typeof EXIT]

/** what kind of failure a code is; the class decides the exit status */
export type ErrorClass = 'usage' | 'input' | 'not-found' | 'conflict' | 'forbidden' | 'unreachable' | 'integrity' | 'internal'

export interface ErrorEntry {
  class: ErrorClass
  http: number
  exit: ExitStatus
  hint?: string
}

const usage = (hint?: string): ErrorEntry => ({ class: 'usage', http: 400, exit: EXIT.USAGE, hint })
const input = (http = 400, hint?: string): ErrorEntry => ({ class: 'input', http, exit: EXIT.USAGE, hint })
const notFound = (hint?: string): ErrorEntry => ({ class: 'not-found', http: 404, exit: EXIT.USAGE, hint })
const conflict = (hint?: string): ErrorEntry => ({ class: 'conflict', http: 409, exit: EXIT.USAGE, hint })
const forbidden = (hint?: string): ErrorEntry => ({ class: 'forbidden', http: 403, exit: EXIT.USAGE, hint })
const unreachable = (http = 503, hint?: string): ErrorEntry => ({ class: 'unreachable', http, exit: EXIT.UNREACHABLE, hint })
const integrity = (http = 500, hint?: string): ErrorEntry => ({ class: 'integrity', http, exit: EXIT.INTEGRITY, hint })
const internal = (http = 500, hint?: string): ErrorEntry => ({ class: 'internal', http, exit: EXIT.INTERNAL, hint })

const DAEMON_LOG = 'daemon.log in the home has the details'

/** Every error code of cit-node. Codes are stable: scripts match on them. */
export const ERRORS = {
  // bad usage and bad input: exit 2
  ERR_USAGE: usage(),
  ERR_INVALID_INPUT: input(),
  ERR_JOB_FILE: input(),
  ERR_INVALID_HASH: input(),
  ERR_BODY_TOO_LARGE: input(413),
  ERR_BLOB_TOO_LARGE: input(413),
  ERR_BAD_TOKEN: input(400, 'ask an admin of the mesh for a new one: `cit-node invite`'),
  ERR_BAD_KEY_ID: input(400, '`cit-node trust list` shows the members\' key ids'),
  ERR_BAD_MESH: input(400, 'ask an admin of the mesh for a new one: `cit-node invite`'),
  ERR_BAD_RECORD: input(),
  ERR_INVALID_SIZE: input(),
  ERR_INVALID_TERMINAL_SIZE: input(),
  ERR_INVALID_PATH: input(),
  ERR_INVALID_RANGE: input(416),
  ERR_RANGE_NOT_SATISFIABLE: input(416),
  ERR_UNSUPPORTED_MEDIA_TYPE: input(415),
  ERR_NOT_A_WEBSOCKET: input(426),
  ERR_MALFORMED_STATEMENT: input(),
  ERR_NIX_EVAL: input(400, '`nix-instantiate FILE` shows the evaluator\'s whole error'),
  ERR_JOB_NOT_FOUND: notFound('`cit-node jobs` lists the jobs this node knows'),
  ERR_BLOB_NOT_FOUND: notFound(),
  ERR_NOT_FOUND: notFound(),
  ERR_NO_HOLDERS: notFound(),
  ERR_TOKEN_NOT_FOUND: notFound('`cit-node token list` lists the tokens'),
  ERR_ARTEFACT_NOT_FOUND: notFound(),
  ERR_LOG_NOT_FOUND: notFound(),
  ERR_NIX_PATH_NOT_FOUND: notFound(),
  ERR_NO_PROVENANCE: notFound(),
  ERR_REPO_NOT_FOUND: notFound('`cit-node repo list` lists the repositories; `cit-node repo add` registers one'),
  ERR_JOB_AMBIGUOUS: conflict(),
  ERR_NOT_IN_MESH: conflict(),
  ERR_ALREADY_IN_MESH: conflict(),
  ERR_DAEMON_RUNNING: conflict(),
  ERR_MEMBERSHIP: conflict(),
  // the home, its key or its socket could be reached by another user: the daemon does not start
  ERR_HOME_PERMISSIONS: conflict(),
  ERR_NO_ADDRESS: conflict(),
  ERR_JOB_NOT_RUNNING: conflict('`cit-node logs JOB` shows the output of a job that has ended'),
  ERR_JOB_ALREADY_RUNNING: conflict(),
  ERR_RUN_CALLED_OFF: conflict(),
  ERR_NOT_RUNNING: conflict('`cit-node logs JOB` shows the output of a job that has ended'),
  ERR_NO_TERMINAL: conflict(),
  // a machine without Nix: the job wants a member that has it (the HTTP face answers 503)
  ERR_NIX_UNAVAILABLE: { class: 'conflict', http: 503, exit: EXIT.USAGE, hint: 'install Nix here, or submit from a member that has it' },
  ERR_FORBIDDEN: forbidden('`cit-node status` shows this node\'s roles; an admin grants more with `cit-node trust grant`'),
  ERR_NOT_ALLOWED: forbidden('`cit-node status` shows this node\'s roles; an admin grants more with `cit-node trust grant`'),
  ERR_READ_ONLY: forbidden(),
  ERR_JOIN_REFUSED: forbidden('ask an admin of the mesh for a new one: `cit-node invite`'),
  ERR_UNAUTHORIZED: { class: 'forbidden', http: 401, exit: EXIT.USAGE, hint: '`cit-node token create` makes a bearer token' },

  // the daemon or the mesh could not be reached or could not serve: exit 3
  ERR_DAEMON_UNREACHABLE: unreachable(503),
  ERR_DAEMON_START: unreachable(503),
  ERR_ADDRESS_IN_USE: unreachable(503),
  ERR_LISTEN: unreachable(503),
  ERR_HTTP_LISTEN: unreachable(503, 'choose another address with --http HOST:PORT, or set "http.listen" in config.json'),
  ERR_JOIN_UNREACHABLE: unreachable(503, 'check that a member named in the token is running and reachable, or ask for a new token'),
  ERR_UNREACHABLE: unreachable(503),
  ERR_LEASE_UNREACHABLE: unreachable(503),
  ERR_TIMEOUT: unreachable(504),
  ERR_STOP_TIMEOUT: unreachable(504),
  ERR_FETCH_FAILED: unreachable(502),
  ERR_REMOTE: unreachable(502),
  ERR_GIT: unreachable(502, 'check that the repository URL is reachable from this node and the commit is in it'),
  ERR_RESET: unreachable(502),
  ERR_TRUNCATED: unreachable(502),
  ERR_BULK_UNAVAILABLE: unreachable(502),
  ERR_MALFORMED: unreachable(502),
  ERR_TOO_LARGE: unreachable(502),
  ERR_WINDOW: unreachable(502),
  ERR_INVALID_LEASE: unreachable(502),
  ERR_BUSY: unreachable(503, 'try again in a moment'),
  ERR_RATE_LIMITED: unreachable(429, 'try again in a moment'),
  ERR_ABORTED: unreachable(503),
  ERR_STOPPED: unreachable(503),
  ERR_STORE_STOPPED: unreachable(503),
  ERR_CLOSED: unreachable(503),
  ERR_PUBLISH_FAILED: unreachable(503),
  ERR_PROVIDE_FAILED: unreachable(503),

  // data that did not verify: exit 4
  ERR_HASH_MISMATCH: integrity(500),
  ERR_SIZE_MISMATCH: integrity(502),
  ERR_BAD_SIGNATURE: integrity(400),
  ERR_NON_CANONICAL: integrity(400),
  ERR_NIX_CLOSURE: integrity(422),

  // bugs and failures of this machine: exit 70
  ERR_INTERNAL: internal(500, DAEMON_LOG),
  ERR_BAD_REPLY: internal(502, 'the command and the daemon may be of different versions: restart the daemon'),
  ERR_UNKNOWN_ROUTE: internal(404, 'the command and the daemon may be of different versions: restart the daemon'),
  ERR_ATTACH: internal(502, DAEMON_LOG),
  ERR_NOT_STARTED: internal(503, DAEMON_LOG),
  ERR_DB_OPEN: internal(500, DAEMON_LOG),
  ERR_BLOB_WRITE_FAILED: internal(507, 'is the disk full?'),
  ERR_WRITE_FAILED: internal(507, 'is the disk full?'),
  ERR_INGEST: internal(500, DAEMON_LOG),
  ERR_INVALID_ARGUMENT: internal(500, DAEMON_LOG),
  ERR_INVALID_OPTION: internal(500, DAEMON_LOG),
  ERR_INVALID_EXECUTOR_OPTION: internal(500, DAEMON_LOG),
  ERR_INVALID_RUN_REQUEST: internal(500, DAEMON_LOG),
  ERR_TOPIC_IN_USE: internal(500, DAEMON_LOG),
  ERR_NO_SHELL: internal(500, 'install bash or a POSIX sh in /bin or /usr/bin'),
  ERR_CGROUP: internal(500, DAEMON_LOG),
  ERR_SANDBOX_UNAVAILABLE: internal(503, 'docs/security.md says what the job sandbox needs (bubblewrap, user namespaces)'),
  ERR_SANDBOX_FAILED: internal(500, DAEMON_LOG),
  ERR_NIX_COMMAND: internal(500, DAEMON_LOG),
  ERR_NIX_CACHE_KEY: internal(503, DAEMON_LOG),
  ERR_UNKNOWN: internal(500, DAEMON_LOG)
} as const satisfies Record<string, ErrorEntry>

export type ErrorCode = keyof typeof ERRORS

/** the table's entry for a code; anything unknown is an internal error */
export function errorEntry (code: unknown): ErrorEntry {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code) ? ERRORS[code as ErrorCode] : ERRORS.ERR_INTERNAL
}

/** whether a code is in the table */
export function isKnownCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
}
