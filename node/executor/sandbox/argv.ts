/**
 * The command lines of a job's sandbox. Pure, so they can be read and tested as data.
 *
 * A job's sandbox lives as long as the job: a *holder* (bubblewrap) makes the namespaces (mount,
 * pid, ipc, and net for `network: none`; user too when the daemon is not root) and keeps them
 * open with a payload that waits on a pipe from the daemon. Each step and hook then *enters*
 * them (nsenter) and drops to the job's user (setpriv), so the steps of one job share their
 * /tmp, their processes and their loopback, as they would on a plain machine, and the whole tree
 * ends when the holder's pid 1 does.
 */
import { SANDBOX_GITCONFIG, SANDBOX_GITCONFIG_TEXT, SANDBOX_WORKSPACE, USERNS_GID, USERNS_UID } from './constants.js'

/** the programs the sandbox runs (absolute paths, found at start) */
export interface SandboxPrograms {
  bwrap: string
  nsenter: string
  setpriv: string
  /** the shell of the holder's payload */
  sh: string
}

/**
 * `build-users`: the daemon is root and each job runs as one of its build users, in namespaces
 * of the real root (no user namespace: a uid in one maps to root outside when root makes it).
 * `user-namespace`: the daemon is not root; the job is USERNS_UID in a user namespace of its own.
 */
export type SandboxMode = 'build-users' | 'user-namespace'

/** whom a job runs as */
export interface JobAccount {
  uid: number
  gid: number
  name: string
}

export interface HolderOptions {
  mode: SandboxMode
  /** cut the network (a net namespace with only its own loopback) */
  network: 'host' | 'none'
  /** the file system (mounts.ts) */
  mounts: readonly string[]
}

/**
 * The payload that keeps the namespaces open: it says when the sandbox is set up (bubblewrap
 * reports its pid 1 before the mounts are done) and ends when the daemon closes its stdin (or dies).
 */
export const HOLDER_PAYLOAD = 'echo ready; read _ || :'

/** the first fd of the files bubblewrap copies into the sandbox (`data`, in order) */
export const HOLDER_DATA_FD = 5

/**
 * bubblewrap's options for the holder (given to it through `--args 4`, so that a job reading
 * /proc/1/cmdline sees none of them: only the payload goes on its command line). It reports its
 * pid 1 on fd 3 (`--info-fd`) and reads the sandbox's own files from HOLDER_DATA_FD on.
 */
export function holderArgs (programs: SandboxPrograms, options: HolderOptions): { options: string[], command: string[], data: string[] } {
  const args = ['--unshare-pid', '--unshare-ipc']
  if (options.network === 'none') args.push('--unshare-net')
  if (options.mode === 'user-namespace') {
    args.push('--unshare-user', '--uid', String(USERNS_UID), '--gid', String(USERNS_GID))
  } else {
    // the payload (root, inside) needs no capability; steps get theirs from nsenter and drop them
    args.push('--cap-drop', 'ALL')
  }
  args.push('--die-with-parent', '--info-fd', '3', ...options.mounts,
    '--perms', '0444', '--ro-bind-data', String(HOLDER_DATA_FD), SANDBOX_GITCONFIG)
  return { options: args, command: [programs.sh, '-c', HOLDER_PAYLOAD], data: [SANDBOX_GITCONFIG_TEXT] }
}

/**
 * What runs one command inside the holder's namespaces, as `account`: the wrapper appends
 * `SHELL -c COMMAND`. nsenter forks into the pid namespace; setpriv clears supplementary groups,
 * the capability sets (bounding set included, so no file capability can bring one back) and
 * sets no_new_privs (setuid programs do not raise privileges), and execs the step's shell. No
 * `env PWD=…` before it (one exec less per step): the PWD the shell inherits names the wrapper's
 * directory outside, which is not its working directory, and a POSIX shell then sets PWD to its
 * real one (`pwd -P`, the workspace) and exports that to the step.
 */
export function enterArgs (programs: SandboxPrograms, options: { mode: SandboxMode, network: 'host' | 'none', initPid: number, account: JobAccount }): string[] {
  const args = [programs.nsenter, `--target=${options.initPid}`]
  // a namespace this process did not make belongs to the host: entering it is not needed, and from
  // a user namespace not allowed
  if (options.mode === 'user-namespace') args.push('--user', '--preserve-credentials')
  args.push('--mount', '--pid', '--ipc')
  if (options.network === 'none') args.push('--net')
  args.push(`--wdns=${SANDBOX_WORKSPACE}`, '--', programs.setpriv)
  if (options.mode === 'build-users') {
    args.push(`--reuid=${options.account.uid}`, `--regid=${options.account.gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all')
  }
  // in a user namespace the step holds no capability once it execs (its uid there is not 0) and
  // no_new_privs keeps file capabilities and setuid bits from granting any
  args.push('--no-new-privs', '--')
  return args
}

/** the namespaces of a holder a step enters, in the order the step launcher enters them */
export type NamespaceName = 'user' | 'ipc' | 'net' | 'pid' | 'mnt'

/** what the step launcher (node/executor/native) needs to run a step inside a holder, as `account` */
export interface SandboxEntry extends SandboxPlace {
  /** the holder's pid 1, and its start time (ticks after boot): a reused pid is never entered */
  initPid: number
  initStart: number
}

/** a sandbox's entry without its holder: what a launcher started ahead of the holder is told at once */
export interface SandboxPlace {
  namespaces: readonly NamespaceName[]
  uid: number
  gid: number
  /** drop the supplementary groups (a root daemon's build users; a user namespace cannot) */
  clearGroups: boolean
  /** the step's working directory inside */
  cwd: string
}

/**
 * The step launcher's view of the same entry as enterArgs: the namespaces the holder made
 * (user first), the account, the workspace. The launcher also empties the bounding set in a user
 * namespace, where setpriv was not asked to (the step has no capability there either way).
 */
export function sandboxEntry (options: { mode: SandboxMode, network: 'host' | 'none', initPid: number, initStart: number, account: JobAccount }): SandboxEntry {
  return { initPid: options.initPid, initStart: options.initStart, ...sandboxPlace(options) }
}

/** the same entry without the holder (the namespaces it will have, the account, the workspace) */
export function sandboxPlace (options: { mode: SandboxMode, network: 'host' | 'none', account: JobAccount }): SandboxPlace {
  const namespaces: NamespaceName[] = options.mode === 'user-namespace' ? ['user', 'ipc'] : ['ipc']
  if (options.network === 'none') namespaces.push('net')
  namespaces.push('pid', 'mnt')
  return {
    namespaces,
    uid: options.account.uid,
    gid: options.account.gid,
    clearGroups: options.mode === 'build-users',
    cwd: SANDBOX_WORKSPACE
  }
}
