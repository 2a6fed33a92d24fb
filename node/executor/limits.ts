/**
 * Limits against runaway jobs, and the shell wrapper that applies them to each step before the
 * step's own shell starts where the native step launcher (step-launcher.ts) was not built.
 */
import {
  DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_MEMORY_BYTES, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_PROCESSES, STEP_END_SENTINEL,
  WRAPPER_SHELL
} from './constants.js'
import { InvalidExecutorOptionError } from './errors.js'
import type { Limits } from './types.js'

/** the limits a job runs under unless the node's config says otherwise */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxProcesses: DEFAULT_MAX_PROCESSES,
  maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES,
  maxFileBytes: DEFAULT_MAX_FILE_BYTES,
  maxMemoryBytes: DEFAULT_MAX_MEMORY_BYTES
})

/** The defaults overridden by `partial`; every given field must be a whole number ≥ 1. */
export function resolveLimits (partial: Partial<Limits> = {}): Limits {
  const out: Limits = { ...DEFAULT_LIMITS }
  for (const [key, value] of Object.entries(partial) as Array<[keyof Limits, unknown]>) {
    if (value === undefined) continue
    if (!(key in DEFAULT_LIMITS)) throw new InvalidExecutorOptionError(`limits.${key}`, 'unknown limit')
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new InvalidExecutorOptionError(`limits.${key}`, `must be a whole number ≥ 1, not ${String(value)}`)
    }
    out[key] = value
  }
  return out
}

/** a string as a printf format that prints it: control characters as octal escapes */
function printfEscape (text: string): string {
  return [...text].map(ch => {
    const code = ch.charCodeAt(0)
    if (code < 0x20 || code === 0x7f) return `\\${code.toString(8).padStart(3, '0')}`
    if (ch === '%' || ch === '\\' || ch === "'") throw new InvalidExecutorOptionError('sentinel', `unsupported character ${JSON.stringify(ch)}`)
    return ch
  }).join('')
}

/** exit status of a step whose wrapper could not apply the limits (the step itself never ran) */
export const WRAPPER_FAILED_EXIT = 125

/**
 * Runs as `sh -c WRAPPER cit-step STTY FSIZE_BLOCKS NPROC N CGROUP_PROCS(N)... LAUNCHER... SHELL -c COMMAND`.
 * It joins the job's cgroups first, so the command and all it forks are born inside them; turns
 * off output processing (see output.ts); sets RLIMIT_FSIZE, and RLIMIT_NPROC when no pids cgroup
 * counts processes (dash spells it `-p`, bash `-u`); runs the rest of its arguments (the job's
 * shell, behind the sandbox's launcher when there is one: the limits and the cgroup are set out
 * here, where the job cannot undo them); prints STEP_END_SENTINEL; exits with the shell's status.
 *
 * Why the wrapper stays instead of exec'ing the job's shell, and why the sentinel (pty-runner.ts
 * has the reading side): libuv treats POLLHUP after a short read as end of file, but a pty
 * master reports POLLHUP as soon as the last slave descriptor closes, with output still
 * buffered, so the tail of a fast step's output was lost now and then. The executor holds a
 * slave descriptor of its own until it reads the sentinel. And a session leader that closes its
 * terminal descriptors before exiting (coreutils do) could be SIGHUPed by the kernel's hangup
 * while still exiting, turning an exit 0 into "killed by SIGHUP"; the wrapper, as the leader,
 * never closes them early. Its traps (handlers, so children keep the default actions) let it
 * outlive a SIGTERM or ^C aimed at the group to report its child's status; `exit` after the
 * command keeps dash from exec'ing it.
 */
export const WRAPPER_SCRIPT = [
  't=$1 f=$2 u=$3 n=$4',
  'shift 4',
  'while [ "$n" -gt 0 ]; do',
  `  echo $$ > "$1" || { echo "cit: cannot join the job's cgroup ($1)" >&2; exit ${WRAPPER_FAILED_EXIT}; }`,
  '  shift; n=$((n - 1))',
  'done',
  'if [ -n "$t" ]; then "$t" -opost 2>/dev/null; fi',
  `ulimit -f "$f" || exit ${WRAPPER_FAILED_EXIT}`,
  `if [ -n "$u" ]; then ulimit -u "$u" 2>/dev/null || ulimit -p "$u" || exit ${WRAPPER_FAILED_EXIT}; fi`,
  'trap : INT TERM HUP QUIT',
  '"$@"',
  'r=$?',
  `printf '${printfEscape(STEP_END_SENTINEL)}'`,
  'exit $r'
].join('\n')

/** what the wrapper needs to run one command */
export interface WrapperInput {
  shell: string
  command: string
  /** path of stty; undefined leaves output processing on */
  stty?: string
  maxFileBytes: number
  /** `ulimit -u` value, only where no pids cgroup is used */
  nprocLimit?: number
  procsFiles: string[]
  /** the sandbox's launcher, run with the shell and command as its last arguments (none: no sandbox) */
  launcher?: readonly string[]
}

/** the program and argv that run one step inside its limits */
export function wrapperArgv (input: WrapperInput): { file: string, args: string[] } {
  // POSIX `ulimit -f` counts 512-byte blocks; round down so the limit is never exceeded
  const blocks = Math.max(1, Math.floor(input.maxFileBytes / 512))
  return {
    file: WRAPPER_SHELL,
    args: [
      '-c', WRAPPER_SCRIPT, 'cit-step',
      input.stty ?? '', String(blocks),
      input.nprocLimit === undefined ? '' : String(input.nprocLimit),
      String(input.procsFiles.length), ...input.procsFiles,
      ...(input.launcher ?? []), input.shell, '-c', input.command
    ]
  }
}
