/**
 * The step launcher: a small native program (native/step-launcher.c, built by `npm ci` with
 * node-gyp) that starts a step in one process, doing what the shell wrapper of limits.ts, `stty`,
 * `nsenter` and `setpriv` did in five execs: join the cgroups, turn off output processing, set the
 * limits, enter the sandbox, drop to the job's account, run the shell, print STEP_END_SENTINEL
 * after it and exit with its status. Where it was not built (no compiler at install time), steps
 * start through the wrapper as before (WRAPPER_SCRIPT).
 */
import { join } from 'node:path'
import { findExecutable } from './env.js'
import { InvalidExecutorOptionError } from './errors.js'
import type { SandboxEntry, SandboxPlace } from './sandbox/argv.js'

/** where `npm ci` builds the launcher, relative to this folder in the sources */
const BUILT = 'native/build/Release/cit-step'

let found: string | null | undefined

/** the launcher built beside the sources, or undefined when it was not built */
export function findStepLauncher (): string | undefined {
  // from the sources (node/executor) and from the build (dist/node/executor), it is at the same place in the sources
  found ??= findExecutable([join(import.meta.dirname, BUILT), join(import.meta.dirname, '../../../node/executor', BUILT)]) ?? null
  return found ?? undefined
}

/** the launcher an option names: false none (the shell wrapper), undefined the one `npm ci` built, if any */
export function resolveStepLauncher (option: string | false | undefined): string | undefined {
  return option === false ? undefined : option ?? findStepLauncher()
}

/** what the launcher needs to run one command */
export interface LaunchInput {
  shell: string
  command: string
  /** arguments after the command ($0, $1, … of the shell) */
  args?: readonly string[]
  sentinel: string
  /** turn off the terminal's output processing (fd 0 must then be a terminal) */
  opostOff: boolean
  /** RLIMIT_FSIZE, in bytes */
  maxFileBytes: number
  /** RLIMIT_NPROC, only where no pids cgroup is used */
  nprocLimit?: number
  procsFiles: readonly string[]
  /** the sandbox to enter and whom to run as (none: the command runs as the daemon's user, where it is) */
  sandbox?: SandboxEntry
}

/**
 * A launch ahead of its step: the launcher joins the cgroups and sets its terminal and limits at
 * once, prints `ready` and waits for the go line (goLine) before it enters the sandbox, whose pid
 * 1 the line names, and runs the command
 */
export interface HeldLaunchInput extends Omit<LaunchInput, 'sandbox'> {
  ready: string
  /** the sandbox's place without its pid 1 (which the go line names) */
  sandbox?: SandboxPlace
}

const whole = (name: string, value: number, min: number): string => {
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidExecutorOptionError(`launcher.${name}`, `must be a whole number ≥ ${min}, not ${String(value)}`)
  return String(value)
}

/** the program and argv that run one step through `launcher` (the launcher checks them again) */
export function launcherArgv (launcher: string, input: LaunchInput | HeldLaunchInput): { file: string, args: string[] } {
  const args = ['--sentinel', input.sentinel, '--fsize', whole('maxFileBytes', input.maxFileBytes, 1)]
  if ('ready' in input) args.push('--hold', input.ready)
  if (input.nprocLimit !== undefined) args.push('--nproc', whole('nprocLimit', input.nprocLimit, 1))
  for (const file of input.procsFiles) args.push('--cgroup-procs', file)
  if (input.opostOff) args.push('--opost-off')
  const box = input.sandbox
  if (box !== undefined) {
    if ('initPid' in box) args.push('--target', whole('initPid', box.initPid, 2), '--target-start', whole('initStart', box.initStart, 0))
    args.push('--ns', box.namespaces.join(','), '--uid', whole('uid', box.uid, 1), '--gid', whole('gid', box.gid, 1))
    if (box.clearGroups) args.push('--clear-groups')
    args.push('--cwd', box.cwd)
  }
  args.push('--', input.shell, '-c', input.command, ...(input.args ?? []))
  return { file: launcher, args }
}

/** the line that lets a held launcher go on: into the sandbox whose pid 1 it names, when there is one */
export function goLine (target?: Pick<SandboxEntry, 'initPid' | 'initStart'>): string {
  return target === undefined ? 'go\n' : `go ${whole('initPid', target.initPid, 2)} ${whole('initStart', target.initStart, 0)}\n`
}
