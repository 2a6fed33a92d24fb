/**
 * The home's key and control socket are the daemon's alone. Whoever can read identity.key is
 * the node, and whoever can connect to control.sock commands it (mints invites, grants roles), so
 * the daemon refuses to start when either, the home, or a directory leading to the home could let
 * another user in: the same rule OpenSSH applies to ~/.ssh (StrictModes).
 */
import { lstat, realpath, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { NodeError } from './errors.js'
import type { HomePaths } from './home.js'

/** one permission that is too loose, with how to fix it */
export interface PermissionProblem {
  path: string
  message: string
}

/** the home, its key or its control socket could be reached by another user: the daemon does not start */
export class HomePermissionsError extends NodeError {
  constructor (readonly problems: PermissionProblem[]) {
    super('ERR_HOME_PERMISSIONS', `the node's home is not private: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`)
    this.name = 'HomePermissionsError'
  }
}

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0')

/** problems of one thing only its owner (this process's user) may reach */
function ownerOnly (path: string, st: { uid: number, mode: number }, uid: number, fix: string): PermissionProblem[] {
  const out: PermissionProblem[] = []
  if (st.uid !== uid) out.push({ path, message: `owned by uid ${st.uid}, not the daemon's user (uid ${uid})` })
  if ((st.mode & 0o077) !== 0) out.push({ path, message: `mode ${octal(st.mode)} lets other users in: ${fix}` })
  return out
}

/**
 * Every directory above `dir` must belong to root or to the daemon's user and must not be
 * writable by anyone else (unless sticky, like /tmp): whoever can rename an entry of it can put
 * another home, key or socket in its place.
 */
async function ancestorProblems (dir: string, uid: number): Promise<PermissionProblem[]> {
  const out: PermissionProblem[] = []
  for (let p = dirname(dir); ; p = dirname(p)) {
    const st = await stat(p)
    if (st.uid !== 0 && st.uid !== uid) out.push({ path: p, message: `a directory leading to the home is owned by uid ${st.uid}: only root or the daemon's user may own it` })
    else if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) out.push({ path: p, message: `a directory leading to the home is writable by others (mode ${octal(st.mode)}): chmod go-w ${p}` })
    if (p === dirname(p)) return out
  }
}

/**
 * Throws HomePermissionsError listing every problem: the home must be a directory of the
 * daemon's user with mode 0700 (no group or other bits), identity.key (when it exists) a regular
 * file of that user with no group or other bits, and the directories leading to the home safe.
 */
export async function checkHome (paths: HomePaths, uid = process.getuid?.() ?? 0): Promise<void> {
  const real = await realpath(paths.root)
  const home = await lstat(real)
  const problems: PermissionProblem[] = []
  if (!home.isDirectory()) problems.push({ path: paths.root, message: 'not a directory' })
  else problems.push(...ownerOnly(paths.root, home, uid, `chmod 700 ${paths.root}`))
  problems.push(...await ancestorProblems(real, uid))
  const key = await lstat(paths.identity).catch((err: any) => { if (err?.code === 'ENOENT') return undefined; throw err })
  if (key !== undefined) {
    if (!key.isFile()) problems.push({ path: paths.identity, message: 'not a regular file (a symbolic link or something else): the key must be the daemon\'s own file' })
    else problems.push(...ownerOnly(paths.identity, key, uid, `chmod 600 ${paths.identity}`))
  }
  if (problems.length > 0) throw new HomePermissionsError(problems)
}

/** Throws HomePermissionsError unless the control socket is the daemon's user's with no group or other bits. */
export async function checkSocket (path: string, uid = process.getuid?.() ?? 0): Promise<void> {
  const st = await lstat(path)
  const problems = st.isSocket() ? ownerOnly(path, st, uid, 'the daemon sets it 0600 itself: something changed it') : [{ path, message: 'not a socket' }]
  if (problems.length > 0) throw new HomePermissionsError(problems)
}
