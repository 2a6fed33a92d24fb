import { sourceEnv } from '../../protocols/job/source.js'
import { mkdirSync } from 'node:fs'
import { mkdir, unlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { collectArtefacts } from './artefacts.js'
import { CgroupContainment, reapStaleGroups } from './cgroup.js'
import { detectCgroups, runGroupName } from './cgroup-detect.js'
import {
  DEFAULT_COLS, DEFAULT_GRACE_MS, DEFAULT_ROWS, MAX_TERMINAL_COLS, MAX_TERMINAL_ROWS, TEMP_DIR_NAME, TERM_NAME
} from './constants.js'
import { buildJobEnv, chooseShell, findExecutable, findStty } from './env.js'
import {
  InvalidExecutorOptionError, InvalidTerminalSizeError, JobAlreadyRunningError, JobNotRunningError, RunCalledOffError
} from './errors.js'
import { JobRun } from './job-run.js'
import { resolveLimits } from './limits.js'
import { SessionContainment } from './procs.js'
import { Recorder } from './recorder.js'
import { checkRunRequest, effectiveTimeout } from './request.js'
import { resolveStepLauncher } from './step-launcher.js'
import { UsageMeter } from './usage.js'
import { WorkspaceLocks } from './workspace-lock.js'
import { SANDBOX_TMP, SANDBOX_WORKSPACE } from './sandbox/constants.js'
import { silentLogger } from '../../store/logger.js'
import type { CgroupSupport } from './cgroup-detect.js'
import type { Containment } from './containment.js'
import type { Decision, JobRunInit } from './job-run.js'
import type { LimitName, Limits, RunRequest, RunResult, Usage } from './types.js'
import type { JobAccount, JobSandbox, Sandbox, SandboxPlace } from './sandbox/index.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'

/** the executor's collaborators: where recordings and artefacts go, where it logs, what sandboxes its jobs */
export interface ExecutorComponents {
  blobs: BlobStore
  logger?: Logger
  /**
   * the node's job sandbox (started): with isolation `sandbox` every run gets one; without it, or
   * with `none`, jobs run as the daemon's user and a job asking for `network: none` fails
   */
  sandbox?: Sandbox
}

/** tunables; every default is a named constant in constants.ts */
export interface ExecutorInit {
  /** each job name gets `<workspacesDir>/<name>/`, kept between runs */
  workspacesDir: string
  /** overrides of DEFAULT_LIMITS */
  limits?: Partial<Limits>
  /** terminal size until someone resizes (default DEFAULT_COLS × DEFAULT_ROWS) */
  cols?: number
  rows?: number
  /** ms between SIGTERM and SIGKILL (default DEFAULT_GRACE_MS) */
  graceMs?: number
  /** the shell for steps and hooks (default: bash if present, else /bin/sh) */
  shell?: string
  /**
   * the native step launcher (default: the one `npm ci` built, when it was built); false: every
   * step starts through the shell wrapper (sh, stty, and nsenter and setpriv in a sandbox)
   */
  stepLauncher?: string | false
  /** extra variable names passed from the daemon's environment to jobs (beyond PASSED_ENV) */
  passEnv?: string[]
  /** false: never use cgroups (rlimits and /proc only); default true */
  cgroups?: boolean
  /** cgroup v2 only (setting it skips v1): a delegated directory, holding no processes, to create job groups in */
  cgroupParent?: string
}

interface Active { run?: JobRun }

/** a run's build user, once leased (none: the run has no sandbox) */
interface Leased { account: JobAccount, place: SandboxPlace }

/**
 * Runs jobs: each step and hook in its own pty, in the job's workspace, inside a cgroup per run
 * (or the rlimit fallback), recorded as asciicast v2 into the blob store. See docs/executor.md.
 */
export class Executor {
  private readonly blobs: BlobStore
  private readonly log: Logger
  private readonly sandbox: Sandbox | undefined
  private readonly workspacesDir: string
  private readonly limits: Limits
  private readonly cols: number
  private readonly rows: number
  private readonly graceMs: number
  private readonly shell: string
  private readonly stty: string | undefined
  private readonly stepLauncher: string | undefined
  private readonly passEnv: string[]
  private readonly useCgroups: boolean
  private readonly cgroupParent: string | undefined
  private readonly locks = new WorkspaceLocks()
  private readonly active = new Map<string, Active>()
  private cgroupSupport: Promise<CgroupSupport> | undefined
  /** the directory of the runs' recordings, once made */
  private tmpMade?: Promise<void>

  constructor (components: ExecutorComponents, init: ExecutorInit) {
    this.blobs = components.blobs
    this.log = components.logger ?? silentLogger
    this.sandbox = components.sandbox
    if (typeof init.workspacesDir !== 'string' || init.workspacesDir === '') {
      throw new InvalidExecutorOptionError('workspacesDir', 'a directory is required')
    }
    this.workspacesDir = resolve(init.workspacesDir)
    this.limits = resolveLimits(init.limits)
    this.cols = checkSize('cols', init.cols ?? DEFAULT_COLS, MAX_TERMINAL_COLS)
    this.rows = checkSize('rows', init.rows ?? DEFAULT_ROWS, MAX_TERMINAL_ROWS)
    this.graceMs = init.graceMs ?? DEFAULT_GRACE_MS
    if (!Number.isFinite(this.graceMs) || this.graceMs < 0) throw new InvalidExecutorOptionError('graceMs', 'must be a number of ms ≥ 0')
    this.shell = init.shell ?? chooseShell()
    this.stty = findStty()
    if (typeof init.stepLauncher === 'string' && findExecutable([init.stepLauncher]) === undefined) {
      throw new InvalidExecutorOptionError('stepLauncher', `${init.stepLauncher} is not an executable file`)
    }
    this.stepLauncher = resolveStepLauncher(init.stepLauncher)
    if (this.stepLauncher === undefined && init.stepLauncher === undefined) {
      this.log.info('the step launcher was not built: each step starts through the shell wrapper, a few ms slower (docs/executor.md)')
    }
    this.passEnv = init.passEnv ?? []
    this.useCgroups = init.cgroups ?? true
    this.cgroupParent = init.cgroupParent
  }

  /** the ids of the jobs running (or waiting for their workspace) here */
  get running (): string[] {
    return [...this.active.keys()]
  }

  /** the workspace directory of a job name */
  workspaceOf (name: string): string {
    return join(this.workspacesDir, name)
  }

  /** Send keys to the job's running command; false when no command is running at this moment. */
  write (jobId: string, data: string | Uint8Array): boolean {
    const active = this.active.get(jobId)
    if (active === undefined) throw new JobNotRunningError(jobId)
    return active.run?.write(typeof data === 'string' ? data : Buffer.from(data)) ?? false
  }

  /** Resize the job's terminal (now and for its later steps); recorded as an `r` event. */
  resize (jobId: string, cols: number, rows: number): void {
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > MAX_TERMINAL_COLS || rows > MAX_TERMINAL_ROWS) {
      throw new InvalidTerminalSizeError(cols, rows)
    }
    const active = this.active.get(jobId)
    if (active === undefined) throw new JobNotRunningError(jobId)
    active.run?.resize(cols, rows)
  }

  /**
   * Run one job to its end. A job that fails, times out or is cancelled resolves with that
   * outcome; rejects only for a bad request (ERR_INVALID_RUN_REQUEST, ERR_JOB_ALREADY_RUNNING),
   * when the recording cannot be stored, or when `ready` rejected before anything started
   * (ERR_RUN_CALLED_OFF: no recording is stored then).
   */
  async run (req: RunRequest): Promise<RunResult> {
    const entered = performance.now()
    checkRunRequest(req)
    // a refusal to start is an answer, read after the setup: never an unhandled rejection meanwhile
    req.ready?.catch(() => {})
    if (this.active.has(req.jobId)) throw new JobAlreadyRunningError(req.jobId)
    const active: Active = {}
    this.active.set(req.jobId, active)
    const runId = runGroupName()
    const tmpDir = join(this.workspacesDir, TEMP_DIR_NAME)
    const castPath = join(tmpDir, `${runId}.cast`)
    let recorder: Recorder | undefined
    try {
      // made once: an `mkdir` per run waited its turn on libuv's thread pool behind the store's
      // synced writes, 27 ms at the median on a busy machine, before anything else of the run began
      await (this.tmpMade ??= mkdir(tmpDir, { recursive: true }).then(() => {}))
      recorder = new Recorder(castPath, {
        width: this.cols,
        height: this.rows,
        timestamp: Math.floor(Date.now() / 1000),
        title: req.spec.name,
        env: { TERM: TERM_NAME, SHELL: this.shell }
      })
      const { unstarted, ...result } = await this.runLocked(req, runId, recorder, active, entered)
      // a run set up ahead of its claim whose claim did not win: nothing ran, nothing is kept
      if (unstarted === true && req.ready != null && await req.ready.then(() => false, () => true)) throw new RunCalledOffError(req.jobId)
      recorder.marker(`cit: ${result.outcome}${result.reason !== undefined ? `: ${result.reason}` : ''}`)
      await recorder.close()
      // hashed while it was written: the store does not read the recording back
      const log = await this.blobs.adoptFile(castPath, { hashedAs: recorder.sha256 })
      return { ...result, log: log.hash }
    } catch (err) {
      // the directory may be what failed (removed from under the daemon): the next run makes it again
      this.tmpMade = undefined
      throw err
    } finally {
      this.active.delete(req.jobId)
      await recorder?.close().catch(() => {})
      await unlink(castPath).catch(() => {})
    }
  }

  private async runLocked (req: RunRequest, runId: string, recorder: Recorder, active: Active, entered: number): Promise<Omit<RunResult, 'log'> & { unstarted?: true }> {
    const started = performance.now()
    const notRun = (outcome: Decision['outcome'], exitCode: number | null, reason?: string): Omit<RunResult, 'log'> & { unstarted: true } => ({
      outcome, exitCode, reason, usage: { wallMs: Math.round(performance.now() - started), cpuMs: 0, maxRssBytes: 0 }, artefacts: [], refused: [], limitsHit: [], unstarted: true
    })
    let release: () => void
    try {
      release = await this.locks.acquire(req.spec.name, req.signal)
    } catch {
      // cancelled while another run of this name held the workspace: nothing ran
      return notRun('cancelled', null, 'cancelled while waiting for the workspace')
    }
    try {
      const workspace = this.workspaceOf(req.spec.name)
      // at once, not through libuv's thread pool: there it waited its turn behind the store's synced
      // writes (11 ms at the median at load 6) for what is, for a workspace kept from an earlier
      // run, one system call that finds the directory there
      mkdirSync(workspace, { recursive: true })
      const locked = performance.now()
      // the cgroup is made while the sandbox is set up (neither needs the other), and both before
      // the gate: all that is left after it is the first process
      const containing = this.contain(runId)
      // a failure to contain is met where the cgroup is awaited, below; until then it must not
      // count as an unhandled rejection while the sandbox is still being set up
      containing.catch(() => {})
      // the first step's launcher starts once the cgroup is made and the build user leased, while
      // bubblewrap starts: it joins the cgroups meanwhile and waits for its go (JobRun.prelaunch)
      let onLeased: (leased: Leased | undefined) => void = () => {}
      const leased = new Promise<Leased | undefined>(resolve => { onLeased = resolve })
      // filled in once the sandbox is open: the run's steps enter it
      let box: JobSandbox | undefined
      const opening = this.openSandbox(req, workspace, onLeased)
      void opening.then(() => { onLeased(undefined) }, () => { onLeased(undefined) })
      const early = this.prelaunch(req, workspace, recorder, containing, leased, () => box)
      // a cgroup made for a run that never starts is removed (one that could not be made needs
      // nothing), after the launcher started ahead in it, if any, has ended
      const discard = async (): Promise<void> => {
        await (await early)?.discard()
        await containing.then(async c => { await c.dispose() }, () => {})
      }
      const opened = await opening.catch(async err => {
        await discard()
        throw err
      })
      const boxed = performance.now()
      if ('refused' in opened) {
        await discard()
        return notRun(opened.refused.outcome, opened.refused.exitCode, opened.refused.reason)
      }
      box = opened.box
      let decision: Decision
      let usage: Usage
      let limitsHit: LimitName[]
      let containment: Containment | undefined
      let run: JobRun | undefined
      try {
        containment = await containing
        const contained = performance.now()
        run = await early
        if (req.ready != null) {
          const go = await req.ready.then(() => req.signal?.aborted !== true, () => false)
          if (!go) return notRun('cancelled', null, 'called off before it started')
        }
        // where a run's start goes (docs/benchmarks.md, dispatch)
        this.log.debug('run set up', { job: req.jobId, beginMs: Math.round(started - entered), lockMs: Math.round(locked - started), sandboxMs: Math.round(boxed - locked), containMs: Math.round(contained - boxed), gateMs: Math.round(performance.now() - contained), held: run !== undefined })
        const meter = new UsageMeter(containment)
        run ??= this.newRun(req, workspace, recorder, containment, box?.account, box)
        active.run = run
        meter.start()
        decision = await run.execute()
        usage = await meter.finish()
        limitsHit = await containment.limitsHit()
        if (run.outputLimitReached) limitsHit.push('output')
      } finally {
        active.run = undefined
        // a launcher started ahead of a run that did not start (never let go) ends first
        await run?.discard()
        // after an unexpected error nothing else has killed the tree
        await containment?.signalAll('SIGKILL')
        await box?.close()
        await containment?.dispose()
      }
      const { artefacts, refused } = await collectArtefacts(workspace, req.spec.artefacts, this.blobs, this.log)
      const unstored = refused.filter(r => r.storeFailed === true)
      if (decision.outcome === 'succeeded' && unstored.length > 0) {
        // a build whose output could not be kept did not succeed: nobody could fetch what it made
        const more = unstored.length > 1 ? ` (and ${unstored.length - 1} more)` : ''
        decision = { ...decision, outcome: 'failed', reason: `artefact ${unstored[0].path} ${unstored[0].reason}${more}` }
      }
      return { ...decision, usage, artefacts, refused, limitsHit }
    } finally {
      release()
    }
  }

  /** a run of `req` with everything it needs (sandbox: the run's, once open) */
  private newRun (req: RunRequest, workspace: string, recorder: Recorder, containment: Containment, account: JobAccount | undefined, sandbox: JobRunInit['sandbox']): JobRun {
    let env = buildJobEnv({
      jobId: req.jobId,
      jobName: req.spec.name,
      workspace: account === undefined ? workspace : SANDBOX_WORKSPACE,
      shell: this.shell,
      params: { ...req.params, ...sourceEnv(req.source, req.build) },
      passEnv: this.passEnv,
      account: account === undefined ? undefined : { home: SANDBOX_WORKSPACE, user: account.name, tmpDir: SANDBOX_TMP }
    })
    if (account !== undefined) env = this.sandbox!.jobEnv(env)
    return new JobRun({
      req,
      workspace,
      cwd: account === undefined ? undefined : '/',
      sandbox,
      env,
      shell: this.shell,
      stepLauncher: this.stepLauncher,
      stty: this.stty,
      limits: this.limits,
      timeoutMs: effectiveTimeout(req),
      graceMs: this.graceMs,
      cols: this.cols,
      rows: this.rows,
      containment,
      recorder,
      log: this.log
    })
  }

  /**
   * The run, made while its sandbox is still being set up, with its first command started ahead
   * (JobRun.prelaunch): once the cgroup is made and, with a sandbox, the build user leased.
   * Undefined where there is no step launcher, or when either could not be had (the run is then
   * made after the gate, as without it).
   */
  private async prelaunch (req: RunRequest, workspace: string, recorder: Recorder, containing: Promise<Containment>, leased: Promise<Leased | undefined>, box: () => JobSandbox | undefined): Promise<JobRun | undefined> {
    if (this.stepLauncher === undefined) return undefined
    try {
      const boxed = this.sandbox?.isolation === 'sandbox'
      const containment = await containing
      const lease = boxed ? await leased : undefined
      if (boxed && lease === undefined) return undefined
      // the steps enter the sandbox the run opens; a step let go before it is open cannot be (the gate waits for it)
      const open = (): JobSandbox => {
        const b = box()
        if (b === undefined) throw new Error('the job\'s sandbox is not open')
        return b
      }
      const sandbox = boxed ? { launcher: () => open().launcher(), entry: () => open().entry() } : undefined
      const run = this.newRun(req, workspace, recorder, containment, lease?.account, sandbox)
      await run.prelaunch(lease?.place)
      return run
    } catch (err) {
      this.log.warn('could not start a job\'s first step ahead of it', { job: req.jobId, err })
      return undefined
    }
  }

  /**
   * The run's sandbox (none when the node has none), or why the job cannot run: `network: none`
   * without a sandbox, a sandbox that could not be set up (nothing ever runs unsandboxed on a
   * node that sandboxes), a cancel while it was being set up.
   */
  private async openSandbox (req: RunRequest, workspace: string, onLeased?: (leased: Leased) => void): Promise<{ box?: JobSandbox } | { refused: Decision }> {
    const network = req.spec.network ?? 'host'
    if (this.sandbox?.isolation !== 'sandbox') {
      if (network !== 'none') return {}
      const why = this.sandbox === undefined ? 'this node has no sandbox' : this.sandbox.detail
      return { refused: { outcome: 'failed', exitCode: null, reason: `network: none needs a sandbox, and this node runs jobs without one (${why})` } }
    }
    try {
      return { box: await this.sandbox.open({ workspace, network, signal: req.signal, onLeased }) }
    } catch (err: any) {
      if (req.signal?.aborted === true) return { refused: { outcome: 'cancelled', exitCode: null, reason: 'cancelled while its sandbox was being set up' } }
      this.log.error('could not set up a job\'s sandbox', { job: req.jobId, err })
      return { refused: { outcome: 'failed', exitCode: null, reason: String(err?.message ?? err) } }
    }
  }

  /** the run's cgroup where one can be made, else the session fallback (with a warning) */
  private async contain (runId: string): Promise<Containment> {
    if (this.useCgroups) {
      this.cgroupSupport ??= detectCgroups({ v2Parent: this.cgroupParent }).then(async support => {
        if (support.mode === 'none') {
          this.log.warn('no writable cgroup: jobs are limited by rlimits only, a fork bomb run as root is not contained', { reason: support.reason })
        } else {
          this.log.info('job cgroups', { support })
          await reapStaleGroups(support, this.log)
        }
        return support
      })
      const support = await this.cgroupSupport
      if (support.mode !== 'none') {
        try {
          const group = await CgroupContainment.create(support, runId, this.limits, this.log)
          if (!group.countsProcesses) this.log.warn('no pids cgroup: the process limit falls back to `ulimit -u`')
          return group
        } catch (err) {
          this.log.warn('could not create the job cgroup: falling back to rlimits', { err })
        }
      }
    }
    return new SessionContainment(this.limits.maxProcesses)
  }
}

function checkSize (option: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new InvalidExecutorOptionError(option, `must be a whole number from 1 to ${max}`)
  return value
}
