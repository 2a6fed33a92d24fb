/**
 * The probe at start: a throwaway job through the same path every job takes (build user,
 * holder, the step launcher, or nsenter and setpriv where it was not built), checked from the
 * inside. A node claims isolation `sandbox` only when it passes; on a machine where bubblewrap
 * is missing or cannot make namespaces (a container without them, user namespaces turned off for
 * a non-root daemon) it fails and the node says so.
 */
import { execFile } from 'node:child_process'
import { readlinkSync } from 'node:fs'
import { PROBE_TIMEOUT_MS, SANDBOX_WORKSPACE } from './constants.js'
import { DEFAULT_MAX_FILE_BYTES, STEP_END_SENTINEL } from '../constants.js'
import { launcherArgv } from '../step-launcher.js'
import { SandboxUnavailableError } from './errors.js'
import type { SandboxMode } from './argv.js'
import type { Sandbox } from './sandbox.js'

/**
 * Prints, one per line: the uid, the user namespace, whether the node's home ($1) is visible,
 * whether the workspace ($2) is writable, and the network interfaces (`network: none`: only lo).
 */
export const PROBE_SCRIPT = [
  'id -u',
  'readlink /proc/self/ns/user',
  // absent, or (past MAX_LISTED_ENTRIES) an empty directory anyone may list: the real home is
  // not listable by the job's user, which must not pass for empty
  'if [ -e "$1" ] && ! { [ -r "$1" ] && [ -x "$1" ] && [ -z "$(ls -A "$1")" ]; }; then echo visible; else echo hidden; fi',
  'if touch "$2/.cit-probe" 2>/dev/null; then echo writable; else echo read-only; fi',
  "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' '"
].join('\n')

/**
 * Throws, saying what is wrong, unless a job in `sandbox` is what it must be. With
 * `stepLauncher`, the probe starts through it, as the executor's steps then do.
 */
export async function probeSandbox (sandbox: Sandbox, options: { workspace: string, home: string, mode: SandboxMode, stepLauncher?: string }): Promise<void> {
  const job = await sandbox.open({ workspace: options.workspace, network: 'none' })
  try {
    const probeArgs = ['cit-probe', options.home, SANDBOX_WORKSPACE]
    let file: string
    let args: string[]
    if (options.stepLauncher === undefined) {
      [file, ...args] = [...job.launcher(), '/bin/sh', '-c', PROBE_SCRIPT, ...probeArgs]
    } else {
      ({ file, args } = launcherArgv(options.stepLauncher, {
        shell: '/bin/sh',
        command: PROBE_SCRIPT,
        args: probeArgs,
        sentinel: STEP_END_SENTINEL,
        opostOff: false,
        maxFileBytes: DEFAULT_MAX_FILE_BYTES,
        procsFiles: [],
        sandbox: job.entry()
      }))
    }
    const out = await new Promise<string>((resolve, reject) => {
      execFile(file, args, { timeout: PROBE_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err != null) reject(new SandboxUnavailableError(String(stderr).trim() || err.message, { cause: err }))
        else resolve(String(stdout).replace(STEP_END_SENTINEL, ''))
      })
    })
    const [uid, userns, home, workspace, net] = out.split('\n').map(s => s.trim())
    if (uid === '0' || Number(uid) !== job.account.uid) throw new SandboxUnavailableError(`the probe ran as uid ${uid}, not ${job.account.uid}`)
    // without a user namespace the uid inside is the uid outside: make sure there is none
    if (options.mode === 'build-users' && userns !== readlinkSync('/proc/self/ns/user')) throw new SandboxUnavailableError('the probe ran in a user namespace: its uid is not its uid outside')
    if (home !== 'hidden') throw new SandboxUnavailableError('the node\'s home is visible inside the sandbox')
    if (workspace !== 'writable') throw new SandboxUnavailableError('the workspace is not writable inside the sandbox')
    if (net !== 'lo') throw new SandboxUnavailableError(`network: none left interfaces other than lo (${net ?? '?'})`)
  } finally {
    await job.close()
  }
}
