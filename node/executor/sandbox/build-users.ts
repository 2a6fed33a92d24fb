/**
 * The build users of a root daemon: `cit-build-1…N`, system users without a home or a login
 * shell in the group `cit-build`, created on demand (like Nix's `nixbld` users). Each running job
 * has one to itself: at most as many exist as jobs ever ran at once here (one per slot).
 *
 * Several daemons on one machine share the users; their jobs are still kept apart, each in
 * namespaces of its own (they cannot see each other's processes or files).
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import {
  BUILD_GROUP, BUILD_USER_PREFIX, GROUPADD_CANDIDATES, MAX_BUILD_USERS, NOLOGIN_CANDIDATES, USERADD_CANDIDATES,
  USERADD_RETRY_MS
} from './constants.js'
import { SandboxUnavailableError } from './errors.js'
import { findExecutable } from '../env.js'
import { silentLogger } from '../../../store/logger.js'
import type { JobAccount } from './argv.js'
import type { Logger } from '../../../store/logger.js'

/** how a command ended: its exit status (null when killed) and what it printed on stderr */
export interface CommandResult { code: number | null, stderr: string }

/** what BuildUsers reads and runs; tests replace them at this seam */
export interface BuildUsersComponents {
  logger?: Logger
  /** /etc/passwd's text */
  passwd?: () => Promise<string>
  /** run an administration command (useradd, groupadd) */
  run?: (file: string, args: string[]) => Promise<CommandResult>
  sleep?: (ms: number) => Promise<void>
}

/** one build user held by a running job; give it back with `release()` */
export interface BuildUserLease {
  user: JobAccount
  release: () => void
}

/** useradd/groupadd: the name is taken (9); /etc/passwd is locked by another process (10) */
const EXIT_NAME_IN_USE = 9
const EXIT_CANNOT_LOCK = 10

async function runCommand (file: string, args: string[]): Promise<CommandResult> {
  return await new Promise(resolve => {
    execFile(file, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      const code = err == null ? 0 : typeof (err as any).code === 'number' ? (err as any).code as number : null
      resolve({ code, stderr: String(stderr) })
    })
  })
}

/** the `cit-build-N` entries of a passwd file, by N */
export function parseBuildUsers (passwd: string): Map<number, JobAccount> {
  const out = new Map<number, JobAccount>()
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':')
    if (name === undefined || !name.startsWith(BUILD_USER_PREFIX)) continue
    const index = Number(name.slice(BUILD_USER_PREFIX.length))
    if (!Number.isSafeInteger(index) || index < 1 || String(index) !== name.slice(BUILD_USER_PREFIX.length)) continue
    const account = { name, uid: Number(uid), gid: Number(gid) }
    // a build user is never root, whatever a passwd file says
    if (Number.isSafeInteger(account.uid) && Number.isSafeInteger(account.gid) && account.uid > 0 && account.gid > 0) out.set(index, account)
  }
  return out
}

/** Hands out build users to running jobs, creating them when all are busy. */
export class BuildUsers {
  private readonly log: Logger
  private readonly passwd: () => Promise<string>
  private readonly run: (file: string, args: string[]) => Promise<CommandResult>
  private readonly sleep: (ms: number) => Promise<void>
  private users = new Map<number, JobAccount>()
  private readonly busy = new Set<number>()
  /** acquisitions one at a time: two jobs never create (or take) the same user */
  private queue: Promise<unknown> = Promise.resolve()

  constructor (components: BuildUsersComponents = {}) {
    this.log = components.logger ?? silentLogger
    this.passwd = components.passwd ?? (async () => await readFile('/etc/passwd', 'utf8'))
    this.run = components.run ?? runCommand
    this.sleep = components.sleep ?? (async ms => { await new Promise(resolve => setTimeout(resolve, ms)) })
  }

  /** whether `uid` is one of the build users (files they own may be handed to another) */
  isBuildUid (uid: number): boolean {
    for (const user of this.users.values()) if (user.uid === uid) return true
    return false
  }

  /** the build users known so far, by number */
  get known (): JobAccount[] {
    return [...this.users.entries()].sort((a, b) => a[0] - b[0]).map(e => e[1])
  }

  /** Read the build users that exist already (from an earlier daemon, or another one). */
  async load (): Promise<void> {
    this.users = parseBuildUsers(await this.passwd())
  }

  /**
   * A build user no running job holds: `preferUid` when it is one and free (the owner of the
   * job's workspace: nothing to hand over), else the lowest-numbered free one, else a new one.
   */
  async acquire (preferUid?: number): Promise<BuildUserLease> {
    const next = this.queue.then(async () => await this.pick(preferUid))
    this.queue = next.catch(() => {})
    const [index, user] = await next
    let released = false
    return { user, release: () => { if (!released) { released = true; this.busy.delete(index) } } }
  }

  private async pick (preferUid: number | undefined): Promise<[number, JobAccount]> {
    const entries = [...this.users.entries()].sort((a, b) => a[0] - b[0])
    const free = entries.filter(([i]) => !this.busy.has(i))
    const chosen = free.find(([, u]) => u.uid === preferUid) ?? free[0] ?? await this.create()
    this.busy.add(chosen[0])
    return chosen
  }

  /** make the next `cit-build-N` (another daemon may make it at the same moment: that is fine) */
  private async create (): Promise<[number, JobAccount]> {
    let index = 1
    while (this.users.has(index) || this.busy.has(index)) index++
    if (index > MAX_BUILD_USERS) throw new SandboxUnavailableError(`more than ${MAX_BUILD_USERS} build users would be needed`)
    const name = `${BUILD_USER_PREFIX}${index}`
    await this.load()
    if (!this.users.has(index)) {
      await this.admin(GROUPADD_CANDIDATES, ['--system', BUILD_GROUP])
      const shell = findExecutable(NOLOGIN_CANDIDATES) ?? '/bin/false'
      await this.admin(USERADD_CANDIDATES, [
        '--system', '--gid', BUILD_GROUP, '--no-create-home', '--home-dir', '/nonexistent', '--shell', shell,
        '--comment', 'cit-node build user', name
      ])
      await this.load()
      this.log.info('created a build user', { name, uid: this.users.get(index)?.uid })
    }
    const user = this.users.get(index)
    if (user === undefined) throw new SandboxUnavailableError(`${name} was created but is not in /etc/passwd`)
    return [index, user]
  }

  /** run useradd/groupadd; a name already taken is success, a locked /etc/passwd is tried again */
  private async admin (candidates: readonly string[], args: string[]): Promise<void> {
    const file = findExecutable(candidates)
    if (file === undefined) throw new SandboxUnavailableError(`${candidates[0]} is not installed: it creates the build users`)
    const deadline = Date.now() + USERADD_RETRY_MS
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      const r = await this.run(file, args)
      if (r.code === 0 || r.code === EXIT_NAME_IN_USE) return
      if (r.code !== EXIT_CANNOT_LOCK || Date.now() > deadline) {
        throw new SandboxUnavailableError(`${file} ${args.at(-1) ?? ''} failed (${String(r.code)}): ${r.stderr.trim()}`)
      }
      await this.sleep(wait)
    }
  }
}
