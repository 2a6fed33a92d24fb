/**
 * The file system a job sees, as bubblewrap arguments. Pure: the caller reads the host (the
 * entries of `/`, which paths exist and what they are) and this decides what to mount where.
 *
 * The job's root is a fresh tmpfs holding a read-only bind of each top-level entry of the host
 * (so a fixed path like /workspace can be made that the host does not have), bwrap's own /dev and
 * /proc, an empty /tmp, and the workspace. Then, in this order:
 * 1. hidden paths (the daemon user's home, its runtime directory, the operator's list) become
 *    empty tmpfs directories, or /dev/null for a file;
 * 2. the operator's read-only paths are bound back, even inside a hidden path;
 * 3. secret paths (the node's home) are hidden last, so no read-only path can bring them back.
 * A path that is already out of sight (inside /tmp, inside a hidden directory) is not mounted
 * over again: that would leave an empty directory naming it.
 */
import { posix } from 'node:path'
import { SANDBOX_TMP, SANDBOX_WORKSPACE } from './constants.js'

/** one entry at the top of the host's file system */
export interface RootEntry {
  name: string
  kind: 'dir' | 'file' | 'symlink' | 'other'
  /** the link's target, for a symlink */
  target?: string
}

/** a host path with what it is (resolved: never a symlink) */
export interface HostPath {
  path: string
  kind: 'dir' | 'file'
}

export interface MountPlanInput {
  root: readonly RootEntry[]
  /** hidden unless a read-only path brings part of them back */
  hidden: readonly HostPath[]
  /** bound read-only at the same path */
  readOnly: readonly HostPath[]
  /** hidden after everything else */
  secret: readonly HostPath[]
  /** the job's workspace on the host, bound read-write at SANDBOX_WORKSPACE */
  workspace: string
  /**
   * `full`: bwrap's own /dev with a fresh devpts (needs a real root, or uid 0 in the namespace);
   * `minimal`: a tmpfs with binds of the harmless devices (no new terminals can be opened)
   */
  dev: 'full' | 'minimal'
}

/** top-level names the plan makes itself */
const OWN_TOP = new Set(['proc', 'dev', SANDBOX_TMP.slice(1), SANDBOX_WORKSPACE.slice(1)])
const MINIMAL_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty']

interface Op { kind: 'bind' | 'empty', dest: string }

const depth = (p: string): number => p.split('/').length
const covers = (dest: string, path: string): boolean => dest === '/' || path === dest || path.startsWith(dest + '/')

/** whether `path` shows host content after `ops`: the deepest mount covering it decides */
export function visibleAfter (ops: readonly Op[], path: string): boolean {
  let best: Op | undefined
  for (const op of ops) {
    if (covers(op.dest, path) && (best === undefined || depth(op.dest) >= depth(best.dest))) best = op
  }
  return best?.kind === 'bind'
}

function hideArgs (target: HostPath): string[] {
  return target.kind === 'dir' ? ['--tmpfs', target.path] : ['--ro-bind', '/dev/null', target.path]
}

function devArgs (dev: 'full' | 'minimal'): string[] {
  if (dev === 'full') return ['--dev', '/dev']
  const args = ['--tmpfs', '/dev']
  for (const name of MINIMAL_DEVICES) args.push('--dev-bind', `/dev/${name}`, `/dev/${name}`)
  args.push('--symlink', '/proc/self/fd', '/dev/fd', '--symlink', '/proc/self/fd/0', '/dev/stdin',
    '--symlink', '/proc/self/fd/1', '/dev/stdout', '--symlink', '/proc/self/fd/2', '/dev/stderr',
    '--perms', '1777', '--tmpfs', '/dev/shm')
  return args
}

/** The bubblewrap arguments that build the job's file system, ending in its working directory. */
export function mountArgs (input: MountPlanInput): string[] {
  const args: string[] = []
  const ops: Op[] = []
  const topHidden = new Set([...input.hidden, ...input.secret].filter(h => depth(h.path) === 2).map(h => h.path))
  for (const entry of [...input.root].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) {
    const path = `/${entry.name}`
    if (OWN_TOP.has(entry.name) || entry.name.includes('/') || topHidden.has(path)) continue
    if (entry.kind === 'symlink' && entry.target !== undefined) {
      args.push('--symlink', entry.target, path)
    } else if (entry.kind === 'dir' || entry.kind === 'file') {
      args.push('--ro-bind', path, path)
      ops.push({ kind: 'bind', dest: path })
    }
  }
  args.push(...devArgs(input.dev), '--proc', '/proc', '--perms', '1777', '--tmpfs', SANDBOX_TMP)
  ops.push({ kind: 'empty', dest: SANDBOX_TMP })
  const byDepth = (list: readonly HostPath[]): HostPath[] => [...list].sort((a, b) => depth(a.path) - depth(b.path) || (a.path < b.path ? -1 : 1))
  const hide = (list: readonly HostPath[]): void => {
    for (const target of byDepth(list)) {
      if (!visibleAfter(ops, target.path)) continue
      args.push(...hideArgs(target))
      ops.push({ kind: 'empty', dest: target.path })
    }
  }
  hide(input.hidden)
  for (const target of byDepth(input.readOnly)) {
    args.push('--ro-bind', target.path, target.path)
    ops.push({ kind: 'bind', dest: target.path })
  }
  hide(input.secret)
  // the payload stays at /: the steps enter the workspace (nsenter --wdns), as the workspace's owner
  args.push('--bind', input.workspace, SANDBOX_WORKSPACE, '--chdir', '/')
  return args
}

/** why `path` cannot be one of the operator's sandbox paths, or undefined (config validation) */
export function sandboxPathProblem (path: unknown): string | undefined {
  if (typeof path !== 'string') return 'must be text'
  if (path.length === 0 || path.length > 4096) return 'must be 1 to 4096 characters'
  if (/[\0\n]/.test(path)) return 'must not contain NUL or a newline'
  if (!path.startsWith('/')) return 'must be an absolute path'
  if (path === '/') return 'must not be the whole file system'
  if (path === SANDBOX_TMP) return `must not be ${SANDBOX_TMP}: a job's ${SANDBOX_TMP} is its own`
  if (posix.normalize(path) !== path || path.endsWith('/')) return 'must be a normal path (no `.`, `..`, `//` or trailing `/`)'
  for (const own of ['/proc', '/dev', SANDBOX_WORKSPACE]) {
    if (covers(own, path)) return `must not be inside ${own}: the sandbox makes it itself`
  }
  return undefined
}
