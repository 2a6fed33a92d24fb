/**
 * Limits and defaults of job files. Every limit here is part of the job file
 * contract (docs/job-file.md lists them): change one and update the docs.
 */

/** largest job file accepted, in UTF-8 bytes; refused before any parsing */
export const MAX_JOB_FILE_BYTES = 1024 * 1024

/** most alias resolutions yaml may do while building the value (an alias bomb trips this at once) */
export const MAX_ALIAS_COUNT = 100

/** deepest nesting of mappings and lists accepted in a job file (a valid one needs 7) */
export const MAX_DEPTH = 32

/**
 * Nesting refused by the cheap pre-scan, before yaml builds a tree: yaml composes
 * recursively and a very deep document can exhaust the stack (even fatally).
 * The pre-scan over-counts a little, so it is looser than MAX_DEPTH, which is
 * checked exactly afterwards.
 */
export const MAX_PRESCAN_DEPTH = 256

/**
 * Most values (scalars, aliases, flow collections, list items) in a job file,
 * counted before yaml parses it. A valid file stays far below: 64 stages of 256
 * steps written as `- { title: t, command: c, ignoreExitCode: true }` are ~130,000.
 */
export const MAX_JOB_FILE_VALUES = 200_000

/** most problems listed for one file; past it a final problem says that more were left out */
export const MAX_PROBLEMS = 100

/** job name: 1 to this many characters of [A-Za-z0-9._-] */
export const MAX_NAME_LENGTH = 128

/** stage and step titles, in characters */
export const MAX_TITLE_LENGTH = 200

/** a title made from a step's command (step shorthand) is cut to this many characters */
export const SHORTHAND_TITLE_LENGTH = 60

/** commands and hooks, in characters */
export const MAX_COMMAND_LENGTH = 64 * 1024

export const MAX_STAGES = 64
export const MAX_STEPS_PER_STAGE = 256

export const MAX_PARAMS = 64
export const MAX_PARAM_NAME_LENGTH = 64
/** a parameter's value (default or --param), in characters */
export const MAX_PARAM_VALUE_LENGTH = 16 * 1024

export const MAX_LABELS = 32
export const MAX_LABEL_LENGTH = 64

export const MAX_ARTEFACTS = 256
export const MAX_GLOB_LENGTH = 1024

export const MIN_PRIORITY = -1000
export const MAX_PRIORITY = 1000

export const MAX_CORES = 1024
/** 64 TiB: a sanity bound, not a promise that any machine has it */
export const MAX_MEMORY_BYTES = 64 * 1024 ** 4

/** a job may not time out sooner than this */
export const MIN_TIMEOUT_MS = 1000
/** 7 days */
export const MAX_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000

/** 1 hour: long enough for most builds, short enough that a hung job frees its slot the same day */
export const DEFAULT_TIMEOUT_MS = 60 * 60 * 1000
export const DEFAULT_PRIORITY = 0
export const DEFAULT_CORES = 1
export const DEFAULT_MEMORY_BYTES = 0

/** what a param name must look like: a portable environment variable name */
export const PARAM_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/

/** job names become workspace directory names: no `/`, and no leading `.` (so never `.` or `..`) */
export const JOB_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/

/** labels are matched against node labels; no spaces or commas so they survive `--label a,b` lists */
export const LABEL_PATTERN = /^[A-Za-z0-9._:=+/-]+$/

/**
 * Param names a job may not declare: the runner sets these itself, or the shell
 * and the dynamic loader give them meaning that would break or hijack every step.
 * `__proto__` is refused so a params object can never be mistaken for a prototype.
 */
export const RESERVED_PARAM_NAMES: ReadonlySet<string> = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'PWD', 'OLDPWD', 'TERM', 'HOSTNAME', 'SHLVL', 'TMPDIR',
  'IFS', 'ENV', 'BASH_ENV', 'CDPATH', 'PS1', 'PS2', 'PS4', 'LANG', 'LANGUAGE', 'TZ', 'COLUMNS', 'LINES',
  'CI', '_', '__proto__'
])

/** prefixes a param name may not start with: CIT_ is the runner's own (job id, workspace, ...) */
export const RESERVED_PARAM_PREFIXES: readonly string[] = ['CIT_', 'LC_', 'LD_', 'BASH_FUNC_']

/** version of the input key's canonical encoding; bump it when what goes in changes */
export const INPUT_KEY_VERSION = 1
