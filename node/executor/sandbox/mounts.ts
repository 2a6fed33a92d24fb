/**
 * The file system a job sees, as bubblewrap arguments. Pure: the caller reads the host (the
 * listings of the directories involved, which paths exist and what they are) and this decides
 * what to mount where.
 *
 * The job's root is a fresh tmpfs that holds read-only binds of the host's entries, bwrap's own
 * /dev and /proc, an empty /tmp and the workspace. Hidden paths (the daemon user's home, its
 * runtime directory, the operator's list) and secret ones (the node's home) do not exist there:
 * each directory leading to one is made afresh and filled with binds of its other entries (the
 * operator's read-only paths are bound back even inside a hidden path). Where the caller gave
 * no listing (a directory too big to copy entry by entry), the directory is bound whole and the
 * path is covered instead (an empty tmpfs, /dev/null for a file): it then shows as an empty name.
 * Secret paths are handled last, so no read-only path can bring them back.
 */
import { posix } from 'node:path'
import { SANDBOX_OWN_DIR, SANDBOX_TMP, SANDBOX_WORKSPACE } from './constants.js'

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
  /** the entries of `/` and of every directory a rule lies strictly inside (absent: too big, bound whole) */
  listings: ReadonlyMap<string, readonly RootEntry[]>
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
export const OWN_TOP = new Set(['proc', 'dev', SANDBOX_TMP.slice(1), SANDBOX_WORKSPACE.slice(1), SANDBOX_OWN_DIR.slice(1)])
const MINIMAL_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty']

interface Op { kind: 'bind' | 'empty', dest: string }
interface Rule { path: string, show: boolean }

const depth = (p: string): number => p === '/' ? 1 : p.split('/').length
const covers = (dest: string, path: string): boolean => dest === '/' || path === dest || path.startsWith(dest + '/')
const join = (dir: string, name: string): string => dir === '/' ? `/${name}` : `${dir}/${name}`
const byName = (a: RootEntry, b: RootEntry): number => a.name < b.name ? -1 : a.name > b.name ? 1 : 0

/** whether `path` shows host content after `ops`: the deepest mount covering it decides */
export function visibleAfter (ops: readonly Op[], path: string): boolean {
  let best: Op | undefined
  for (const op of ops) {
    if (covers(op.dest, path) && (best === undefined || depth(op.dest) >= depth(best.dest))) best = op
  }
  return best?.kind === 'bind'
}

/** whether the host's `path` is to be seen: the deepest rule covering it decides (a read-only path wins a tie) */
function shown (rules: readonly Rule[], path: string): boolean {
  let best: Rule | undefined
  for (const r of rules) {
    if (!covers(r.path, path)) continue
    if (best === undefined || depth(r.path) > depth(best.path) || (depth(r.path) === depth(best.path) && r.show)) best = r
  }
  return best?.show ?? true
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

/** The bubblewrap arguments that build the job's file system. */
export function mountArgs (input: MountPlanInput): string[] {
  const args: string[] = []
  const ops: Op[] = [{ kind: 'empty', dest: '/' }]
  const rules: Rule[] = [
    ...input.hidden.map(h => ({ path: h.path, show: false })),
    ...input.readOnly.map(r => ({ path: r.path, show: true })),
    ...input.secret.map(s => ({ path: s.path, show: false }))
  ]
  const inside = (dir: string, pred: (r: Rule) => boolean = () => true): boolean => rules.some(r => pred(r) && r.path !== dir && covers(dir, r.path))
  const bind = (entry: RootEntry, path: string): void => {
    if (entry.kind === 'symlink' && entry.target !== undefined) args.push('--symlink', entry.target, path)
    else if (entry.kind === 'dir' || entry.kind === 'file') {
      args.push('--ro-bind', path, path)
      ops.push({ kind: 'bind', dest: path })
    }
  }
  // the tree: directories with a rule inside are made afresh, entry by entry
  const build = (dir: string): void => {
    for (const entry of [...(input.listings.get(dir) ?? [])].sort(byName)) {
      if (entry.name.includes('/') || entry.name === '' || (dir === '/' && OWN_TOP.has(entry.name))) continue
      const path = join(dir, entry.name)
      const visible = shown(rules, path)
      if (entry.kind === 'dir' && inside(path) && input.listings.has(path)) {
        if (!visible && !inside(path, r => r.show)) continue
        args.push('--dir', path)
        ops.push({ kind: 'empty', dest: path })
        build(path)
      } else if (visible) {
        bind(entry, path)
      }
    }
  }
  build('/')
  args.push(...devArgs(input.dev), '--proc', '/proc', '--perms', '1777', '--tmpfs', SANDBOX_TMP)
  ops.push({ kind: 'empty', dest: SANDBOX_TMP })
  // what the tree could not do (no listing, or inside /tmp): cover and bind over it
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
    // already in sight (bound by the tree, or inside what is): binding it again would undo what is hidden in it
    if (visibleAfter(ops, target.path)) continue
    // bwrap makes a bind's missing parents 0700, which a build user cannot pass: in the job's /tmp they are made 0755 here
    const parents: string[] = []
    for (let dir = posix.dirname(target.path); dir !== SANDBOX_TMP && covers(SANDBOX_TMP, dir); dir = posix.dirname(dir)) parents.unshift(dir)
    for (const dir of parents) args.push('--dir', dir)
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
  for (const own of ['/proc', '/dev', SANDBOX_WORKSPACE, SANDBOX_OWN_DIR]) {
    if (covers(own, path)) return `must not be inside ${own}: the sandbox makes it itself`
  }
  return undefined
}
