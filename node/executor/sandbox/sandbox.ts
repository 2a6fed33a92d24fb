/**
 * The job sandbox of a node: finds out at start whether this machine can sandbox jobs (and says
 * so), and gives each run a sandbox of its own. docs/security.md describes what a job can and
 * cannot reach.
 */
import { lstat, mkdir, mkdtemp, readdir, readlink, realpath, rm, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { InvalidInputError } from '../../errors.js'
import { findExecutable } from '../env.js'
import { resolveStepLauncher } from '../step-launcher.js'
import { enterArgs, holderArgs, sandboxEntry, sandboxPlace } from './argv.js'
import { BuildUsers } from './build-users.js'
import {
  BWRAP_CANDIDATES, MAX_LISTED_ENTRIES, NSENTER_CANDIDATES, SANDBOX_GITCONFIG, SANDBOX_WORKSPACE, SETPRIV_CANDIDATES,
  USERNS_GID, USERNS_UID, USERNS_USER
} from './constants.js'
import { SandboxFailedError, SandboxUnavailableError } from './errors.js'
import { Holder } from './holder.js'
import { mountArgs, OWN_TOP } from './mounts.js'
import { handOver } from './ownership.js'
import { probeSandbox } from './probe.js'
import { silentLogger } from '../../../store/logger.js'
import type { JobAccount, SandboxEntry, SandboxMode, SandboxPlace, SandboxPrograms } from './argv.js'
import type { BuildUserLease } from './build-users.js'
import type { HostPath, MountPlanInput, RootEntry } from './mounts.js'
import type { Logger } from '../../../store/logger.js'

/** whether this node's jobs run sandboxed */
export type Isolation = 'sandbox' | 'none'

export interface SandboxComponents {
  logger?: Logger
  /** for tests: the build users (default: the real ones, created with useradd) */
  users?: BuildUsers
}

export interface SandboxInit {
  /** the node's home: nothing under it exists for a job */
  home: string
  /** a directory of the daemon's for the probe's scratch workspace (in the home) */
  scratchDir: string
  /** false: jobs run without a sandbox (isolation `none`); default true */
  enabled?: boolean
  /** host paths a job may read even where they are hidden (under the daemon user's home, …) */
  readOnlyPaths?: readonly string[]
  /** host paths a job must not see, beyond the node's home and the daemon user's home */
  hiddenPaths?: readonly string[]
  /** where the sandbox's programs are (default: looked for in the usual places); a missing one means isolation `none` */
  programs?: Partial<SandboxPrograms>
  /**
   * the step launcher the probe runs through, as the executor's steps do (default: the one built
   * beside the sources, if any); false: the probe takes the shell wrapper's path (nsenter, setpriv)
   */
  stepLauncher?: string | false
}

/** One run's sandbox: what the executor runs its steps with. */
export interface JobSandbox {
  /** the workspace as the job sees it */
  readonly workspace: string
  /** whom the job runs as */
  readonly account: JobAccount
  /** the launcher the wrapper runs `SHELL -c COMMAND` behind; throws SandboxFailedError once the sandbox has ended */
  launcher: () => string[]
  /** the same entry for the step launcher (step-launcher.ts); throws SandboxFailedError once the sandbox has ended */
  entry: () => SandboxEntry
  /** end the sandbox, every process left in it, and give back its build user */
  close: () => Promise<void>
}

/** what a run's sandbox is opened with */
export interface OpenOptions {
  /** the workspace on the host */
  workspace: string
  network: 'host' | 'none'
  signal?: AbortSignal
  /**
   * called once the job's account is leased (and its workspace handed over), usually well before
   * the holder is up: a step launcher can be started then and wait for the holder (docs/executor.md)
   */
  onLeased?: (leased: { account: JobAccount, place: SandboxPlace }) => void
}

const inside = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith('/') ? dir : dir + '/')

/** The node's sandbox for jobs: `start()` decides `isolation`; `open()` makes one run's sandbox. */
export class Sandbox {
  private readonly log: Logger
  private readonly init: SandboxInit
  private readonly users: BuildUsers
  private programs: SandboxPrograms | undefined
  private mode: SandboxMode | undefined
  private state: { isolation: Isolation, detail: string } = { isolation: 'none', detail: 'not started' }
  private starting: Promise<void> | undefined
  private realHome: string

  constructor (components: SandboxComponents, init: SandboxInit) {
    this.log = components.logger ?? silentLogger
    this.users = components.users ?? new BuildUsers({ logger: this.log })
    this.init = { ...init, home: resolve(init.home) }
    this.realHome = this.init.home
    const problems = (init.readOnlyPaths ?? []).flatMap((p, i) => inside(resolve(p), this.init.home)
      ? [{ path: `sandbox.readOnlyPaths[${i}]`, message: 'must not be the node\'s home or inside it: its key and socket stay the daemon\'s' }]
      : [])
    if (problems.length > 0) throw new InvalidInputError(`config: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`, problems)
  }

  /**
   * A job's environment without anything that names the node's home: a variable copied from the
   * daemon (passEnv, a PATH entry) whose value points into it is left out. The home is hidden
   * anyway; its path is not the job's business either. GIT_CONFIG_SYSTEM names the sandbox's git
   * config (SANDBOX_GITCONFIG) unless the job sets it.
   */
  jobEnv (env: Record<string, string>): Record<string, string> {
    const homes = [...new Set([this.init.home, this.realHome])]
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(env)) {
      if (homes.some(h => value.includes(h))) {
        this.log.debug('left out of a job\'s environment: it names the node\'s home', { name })
        continue
      }
      out[name] = value
    }
    out.GIT_CONFIG_SYSTEM ??= SANDBOX_GITCONFIG
    return out
  }

  /** `sandbox` once the probe passed; `none` when disabled, unsupported or broken (`detail` says why) */
  get isolation (): Isolation { return this.state.isolation }
  /** how jobs are isolated, or why they are not, in a few words */
  get detail (): string { return this.state.detail }

  /** Find the programs, and run a probe job through the same path every job takes. Never throws for a machine that cannot sandbox. */
  async start (): Promise<void> {
    this.starting ??= this.decide().then(state => {
      this.state = state
      if (state.isolation === 'sandbox') this.log.info('jobs run in a sandbox', { detail: state.detail })
      else this.log.warn('jobs run WITHOUT a sandbox: a job can read and do whatever the daemon\'s user can', { reason: state.detail })
    })
    await this.starting
  }

  private async decide (): Promise<{ isolation: Isolation, detail: string }> {
    if (this.init.enabled === false) return { isolation: 'none', detail: 'turned off by the node\'s config (sandbox.enabled: false)' }
    if (process.platform !== 'linux') return { isolation: 'none', detail: `no sandbox on ${process.platform} (it needs Linux namespaces)` }
    const given = this.init.programs ?? {}
    const find = (name: keyof SandboxPrograms, candidates: readonly string[]): string | undefined =>
      given[name] !== undefined ? findExecutable([given[name]]) : findExecutable(candidates)
    const bwrap = find('bwrap', BWRAP_CANDIDATES)
    const nsenter = find('nsenter', NSENTER_CANDIDATES)
    const setpriv = find('setpriv', SETPRIV_CANDIDATES)
    if (bwrap === undefined) return { isolation: 'none', detail: 'bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)' }
    if (nsenter === undefined || setpriv === undefined) return { isolation: 'none', detail: 'nsenter or setpriv (util-linux) is missing' }
    this.programs = { bwrap, nsenter, setpriv, sh: given.sh ?? '/bin/sh' }
    this.realHome = await realpath(this.init.home).catch(() => this.init.home)
    for (const p of this.init.readOnlyPaths ?? []) {
      if (inside(await realpath(p).catch(() => p), this.realHome)) throw new InvalidInputError(`config: sandbox.readOnlyPaths: ${p} is inside the node's home`, [{ path: 'sandbox.readOnlyPaths', message: `${p} is inside the node's home` }])
      await stat(p).catch(() => { this.log.warn('a read-only path for jobs does not exist', { path: p }) })
    }
    this.mode = process.getuid?.() === 0 ? 'build-users' : 'user-namespace'
    try {
      if (this.mode === 'build-users') await this.users.load()
      await mkdir(this.init.scratchDir, { recursive: true, mode: 0o700 })
      const dir = await mkdtemp(join(this.init.scratchDir, 'probe-'))
      try {
        await probeSandbox(this, { workspace: dir, home: this.init.home, mode: this.mode, stepLauncher: resolveStepLauncher(this.init.stepLauncher) })
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    } catch (err: any) {
      return { isolation: 'none', detail: `the sandbox probe failed: ${String(err?.message ?? err)}` }
    }
    return {
      isolation: 'sandbox',
      detail: this.mode === 'build-users'
        ? 'bubblewrap; jobs run as build users cit-build-N'
        : `bubblewrap; jobs run in a user namespace as uid ${USERNS_UID}`
    }
  }

  /**
   * A sandbox for one run: a build user (root daemon), the workspace handed to it, the holder of
   * the namespaces. Throws SandboxFailedError when it cannot be set up; nothing then runs.
   */
  async open (options: OpenOptions): Promise<JobSandbox> {
    const programs = this.programs
    const mode = this.mode
    if (programs === undefined || mode === undefined) throw new SandboxUnavailableError('the sandbox is not available on this node')
    const t0 = performance.now()
    // The holder needs the host's view, not the job's user: bubblewrap starts while the user is
    // picked and the workspace handed over (its payload runs no job code; nothing does before
    // open() returns with both done)
    const starting = this.hostView().then(async view => {
      const t1 = performance.now()
      const mounts = mountArgs({ ...view, workspace: options.workspace, dev: mode === 'build-users' ? 'full' : 'minimal' })
      const holder = await Holder.start(programs.bwrap, holderArgs(programs, { mode, network: options.network, mounts }), options.signal)
      return { holder, viewMs: t1 - t0, holderMs: performance.now() - t1 }
    })
    const leasing = this.account(mode, options).then(leased => {
      try {
        options.onLeased?.({ account: leased.account, place: sandboxPlace({ mode, network: options.network, account: leased.account }) })
      } catch (err) {
        this.log.warn('a listener of the build user\'s lease threw', { err })
      }
      return { ...leased, userMs: performance.now() - t0 }
    })
    const [started, leased] = await Promise.allSettled([starting, leasing])
    if (started.status === 'rejected' || leased.status === 'rejected') {
      // whichever half was set up is undone; the user's failure is reported first, as when it came first
      if (leased.status === 'fulfilled') leased.value.lease?.release()
      if (started.status === 'fulfilled') await started.value.holder.close()
      throw leased.status === 'rejected' ? leased.reason : (started as PromiseRejectedResult).reason
    }
    const { holder } = started.value
    const { account, lease } = leased.value
    // where a run's set-up goes (docs/benchmarks.md, dispatch): build user and hand-over alongside the host view, then bubblewrap
    this.log.debug('sandbox opened', { userMs: Math.round(leased.value.userMs), viewMs: Math.round(started.value.viewMs), holderMs: Math.round(started.value.holderMs) })
    return {
      workspace: SANDBOX_WORKSPACE,
      account,
      launcher: () => {
        if (!holder.alive) throw new SandboxFailedError('the job\'s sandbox has ended')
        return enterArgs(programs, { mode, network: options.network, initPid: holder.initPid, account })
      },
      entry: () => {
        if (!holder.alive) throw new SandboxFailedError('the job\'s sandbox has ended')
        return sandboxEntry({ mode, network: options.network, initPid: holder.initPid, initStart: holder.initStart, account })
      },
      close: async () => {
        try {
          await holder.close()
        } finally {
          lease?.release()
        }
      }
    }
  }

  /** whom a run's job runs as: a build user leased for it, the workspace handed to it (root daemon), or the user namespace's */
  private async account (mode: SandboxMode, options: OpenOptions): Promise<{ account: JobAccount, lease?: BuildUserLease }> {
    if (mode !== 'build-users') return { account: { uid: USERNS_UID, gid: USERNS_GID, name: USERNS_USER } }
    const lease = await this.users.acquire((await stat(options.workspace)).uid)
    try {
      const account = lease.user
      const moved = await handOver(options.workspace, { uid: account.uid, gid: account.gid, isBuildUid: uid => this.users.isBuildUid(uid), daemonUid: 0, signal: options.signal })
      if (moved.changed > 0) this.log.info('workspace handed to another build user', { user: account.name, ...moved })
      return { account, lease }
    } catch (err) {
      lease.release()
      throw err
    }
  }

  /** what to hide and expose, read from the host now (paths resolved, missing ones left out) */
  private async hostView (): Promise<Omit<MountPlanInput, 'workspace' | 'dev'>> {
    const own = [homedir(), `/run/user/${process.getuid?.() ?? 0}`].filter(p => p !== '' && p !== '/')
    const view = {
      hidden: await hostPaths([...own, ...(this.init.hiddenPaths ?? [])]),
      readOnly: await hostPaths(this.init.readOnlyPaths ?? []),
      secret: await hostPaths([this.init.home])
    }
    // every directory leading to a rule is rebuilt entry by entry (mounts.ts), unless it is too big
    const listings = new Map<string, RootEntry[]>([['/', await listDir('/')]])
    const skipped = new Set<string>()
    for (const rule of [...view.hidden, ...view.readOnly, ...view.secret]) {
      for (let dir = dirname(rule.path); dir !== '/'; dir = dirname(dir)) {
        if (listings.has(dir) || skipped.has(dir) || OWN_TOP.has(dir.split('/')[1])) continue
        const entries = await listDir(dir).catch(() => undefined)
        if (entries !== undefined && entries.length <= MAX_LISTED_ENTRIES) listings.set(dir, entries)
        else skipped.add(dir)
      }
    }
    return { ...view, listings }
  }
}

/** the entries of a host directory */
async function listDir (dir: string): Promise<RootEntry[]> {
  const out: RootEntry[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = dir === '/' ? `/${entry.name}` : `${dir}/${entry.name}`
    if (entry.isSymbolicLink()) out.push({ name: entry.name, kind: 'symlink', target: await readlink(path) })
    else out.push({ name: entry.name, kind: entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : 'other' })
  }
  return out
}

/** the real paths of `paths` that exist, with what they are */
async function hostPaths (paths: readonly string[]): Promise<HostPath[]> {
  const out: HostPath[] = []
  for (const p of paths) {
    try {
      const real = await realpath(p)
      const st = await lstat(real)
      if (real !== '/' && (st.isDirectory() || st.isFile())) out.push({ path: real, kind: st.isDirectory() ? 'dir' : 'file' })
    } catch {}
  }
  return out
}
