/**
 * Finding where this process may create cgroups for its jobs.
 *
 * Job groups are created beneath the daemon's own cgroup in each hierarchy (never at a
 * hierarchy's root unless the daemon lives there), so whatever limits and accounting apply to
 * the daemon's service also apply to its jobs.
 */
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'

/** the controllers the executor uses: pids contains, memory limits and measures, cpuacct measures */
export const V1_CONTROLLERS = ['pids', 'memory', 'cpuacct'] as const
export type V1Controller = typeof V1_CONTROLLERS[number]

/** names of run groups: the creating daemon's pid (so a later daemon can tell orphans) and 64 random bits */
export const RUN_GROUP_PATTERN = /^cit-(\d+)-[0-9a-f]{16}$/

/** a new run group's name */
export function runGroupName (): string {
  return `cit-${process.pid}-${randomBytes(8).toString('hex')}`
}

/** where job groups can be made: per-controller parents on v1, one parent on v2, or nowhere (with why) */
export type CgroupSupport =
  | { mode: 'v1', parents: Partial<Record<V1Controller, string>> }
  | { mode: 'v2', parent: string, controllers: string[] }
  | { mode: 'none', reason: string }

/** a cgroup mount from /proc/self/mountinfo */
export interface MountEntry { root: string, mountPoint: string, fsType: string, superOptions: string[] }

/** The cgroup mounts listed in /proc/self/mountinfo. */
export function parseMountinfo (text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const left = line.slice(0, sep).split(' ')
    const right = line.slice(sep + 3).split(' ')
    if (left.length < 5 || right.length < 3) continue
    const fsType = right[0]
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue
    out.push({ root: unescapeMount(left[3]), mountPoint: unescapeMount(left[4]), fsType, superOptions: right[2].split(',') })
  }
  return out
}

// mountinfo escapes space, tab, newline and backslash as octal
function unescapeMount (s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

/** /proc/self/cgroup as controller → path (`''` is the cgroup v2 entry). */
export function parseProcCgroup (text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line)
    if (m == null) continue
    if (m[1] === '') out.set('', m[2])
    for (const c of m[1].split(',')) if (c !== '') out.set(c, m[2])
  }
  return out
}

/** the directory of cgroup `path` under `mount`, or undefined when the mount does not show it */
export function cgroupDir (mount: MountEntry, path: string): string | undefined {
  if (mount.root === '/') return join(mount.mountPoint, path)
  if (path === mount.root) return mount.mountPoint
  if (path.startsWith(mount.root + '/')) return join(mount.mountPoint, path.slice(mount.root.length))
  return undefined
}

/** mkdir + rmdir of a throwaway group: the only sure test that we may create groups here */
async function canCreateIn (dir: string): Promise<boolean> {
  const probe = join(dir, `cit-probe-${randomBytes(4).toString('hex')}`)
  try {
    await mkdir(probe)
  } catch {
    return false
  }
  await rmdir(probe).catch(() => {})
  return true
}

/** overrides for detection */
export interface DetectOptions {
  /** cgroup v2 directory delegated to this daemon (holding no processes itself) */
  v2Parent?: string
  /** for tests: the texts of /proc/self/mountinfo and /proc/self/cgroup */
  mountinfo?: string
  procCgroup?: string
}

/**
 * What this process can use: v1 controllers where mounted and writable (this is preferred on
 * hybrid machines, since v1-bound controllers are absent from v2), else a v2 parent that has the
 * pids controller and may enable it for its children, else none.
 */
export async function detectCgroups (options: DetectOptions = {}): Promise<CgroupSupport> {
  let mounts: MountEntry[]
  let own: Map<string, string>
  try {
    mounts = parseMountinfo(options.mountinfo ?? await readFile('/proc/self/mountinfo', 'utf8'))
    own = parseProcCgroup(options.procCgroup ?? await readFile('/proc/self/cgroup', 'utf8'))
  } catch (err: any) {
    return { mode: 'none', reason: `cannot read /proc: ${String(err?.message ?? err)}` }
  }
  if (options.v2Parent === undefined) {
    const parents: Partial<Record<V1Controller, string>> = {}
    for (const c of V1_CONTROLLERS) {
      const mount = mounts.find(m => m.fsType === 'cgroup' && m.superOptions.includes(c))
      const path = own.get(c)
      if (mount === undefined || path === undefined) continue
      const dir = cgroupDir(mount, path)
      if (dir !== undefined && await canCreateIn(dir)) parents[c] = dir
    }
    if (Object.keys(parents).length > 0) return { mode: 'v1', parents }
  }
  const v2 = mounts.find(m => m.fsType === 'cgroup2')
  const ownV2 = own.get('')
  let parent = options.v2Parent
  if (parent === undefined && v2 !== undefined && ownV2 !== undefined) parent = cgroupDir(v2, ownV2)
  if (parent === undefined) return { mode: 'none', reason: 'no cgroup v1 controller or cgroup v2 hierarchy is mounted for this process' }
  return await v2Support(parent)
}

async function v2Support (parent: string): Promise<CgroupSupport> {
  let available: string[]
  try {
    available = (await readFile(join(parent, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/).filter(Boolean)
  } catch (err: any) {
    return { mode: 'none', reason: `cannot read ${join(parent, 'cgroup.controllers')}: ${String(err?.code ?? err)}` }
  }
  if (!available.includes('pids')) return { mode: 'none', reason: `the pids controller is not available in ${parent}` }
  const wanted = ['pids', 'memory', 'cpu'].filter(c => available.includes(c))
  try {
    const enabled = (await readFile(join(parent, 'cgroup.subtree_control'), 'utf8')).trim().split(/\s+/)
    const missing = wanted.filter(c => !enabled.includes(c))
    // fails with EBUSY when the parent holds processes (the "no internal processes" rule):
    // the daemon must then run in a delegated subgroup (systemd DelegateSubgroup=)
    if (missing.length > 0) await writeFile(join(parent, 'cgroup.subtree_control'), missing.map(c => `+${c}`).join(' '))
  } catch (err: any) {
    return { mode: 'none', reason: `cannot enable ${wanted.join(', ')} for the children of ${parent}: ${String(err?.code ?? err)}` }
  }
  if (!await canCreateIn(parent)) return { mode: 'none', reason: `cannot create cgroups in ${parent}` }
  return { mode: 'v2', parent, controllers: wanted }
}
