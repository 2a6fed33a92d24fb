/**
 * The environment a job's commands see, and the programs the executor relies on.
 */
import { accessSync, constants as fsConstants } from 'node:fs'
import { userInfo } from 'node:os'
import {
  DEFAULT_LANG, DEFAULT_PATH, NO_PAGER_ENV, PASSED_ENV, SHELL_CANDIDATES, STTY_CANDIDATES, TERM_NAME
} from './constants.js'
import { NoShellError } from './errors.js'

/** the first of `candidates` that this process may execute, or undefined */
export function findExecutable (candidates: readonly string[]): string | undefined {
  for (const file of candidates) {
    try {
      accessSync(file, fsConstants.X_OK)
      return file
    } catch {}
  }
  return undefined
}

/**
 * The shell that runs steps and hooks: bash when the machine has it, because job files are
 * mostly written by people who test them in bash (`set -o pipefail`, `[[ ]]`, arrays); POSIX sh
 * otherwise. The choice is recorded in the asciicast header (`env.SHELL`) and exported as SHELL.
 */
export function chooseShell (): string {
  const shell = findExecutable(SHELL_CANDIDATES)
  if (shell === undefined) throw new NoShellError(SHELL_CANDIDATES)
  return shell
}

/** `stty`, used to turn off the kernel's output processing; undefined when missing */
export function findStty (): string | undefined {
  return findExecutable(STTY_CANDIDATES)
}

/** what a job's environment is made from */
export interface JobEnvInput {
  jobId: string
  jobName: string
  workspace: string
  shell: string
  params: Record<string, string>
  /** extra variable names to copy from the daemon's environment */
  passEnv?: readonly string[]
  /** a sandboxed job's own HOME, USER/LOGNAME and TMPDIR, in place of the daemon's */
  account?: { home: string, user: string, tmpDir: string }
  /** the daemon's environment (default process.env) */
  from?: NodeJS.ProcessEnv
}

/**
 * A minimal environment: PASSED_ENV (and `passEnv`) copied from the daemon when set, sane
 * PATH/LANG/HOME defaults, pagers off (NO_PAGER_ENV), TERM, SHELL, CI=true, the params, then CIT_JOB_ID, CIT_JOB_NAME and
 * CIT_WORKSPACE. Param names were checked against the reserved names before this is called, so
 * a param can never replace PATH or a CIT_ variable.
 */
export function buildJobEnv (input: JobEnvInput): Record<string, string> {
  const from = input.from ?? process.env
  const env: Record<string, string> = {}
  for (const name of [...PASSED_ENV, ...(input.passEnv ?? [])]) {
    const value = from[name]
    if (value !== undefined) env[name] = value
  }
  if (input.account !== undefined) {
    env.HOME = input.account.home
    env.USER = env.LOGNAME = input.account.user
    env.TMPDIR = input.account.tmpDir
  }
  env.PATH ??= DEFAULT_PATH
  env.LANG ??= DEFAULT_LANG
  if (env.HOME === undefined || env.USER === undefined) {
    try {
      const user = userInfo()
      env.HOME ??= user.homedir
      env.USER ??= user.username
      env.LOGNAME ??= user.username
    } catch {}
  }
  for (const [name, value] of Object.entries(NO_PAGER_ENV)) env[name] ??= value
  env.TERM = TERM_NAME
  env.SHELL = input.shell
  // most tools turn off prompts, spinners and colour detection guesses when they see it
  env.CI = 'true'
  for (const [name, value] of Object.entries(input.params)) env[name] = value
  env.CIT_JOB_ID = input.jobId
  env.CIT_JOB_NAME = input.jobName
  env.CIT_WORKSPACE = input.workspace
  return env
}
