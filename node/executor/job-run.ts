/**
 * The order of one job run: job onStart, each stage (onStart, steps, onSuccess|onFailure), job
 * onSuccess|onFailure; and what stops it early (timeout, cancel, output limit).
 *
 * After a stop, the tree is killed (SIGTERM, grace, SIGKILL), no stage hook runs, and the job's
 * onFailure hook runs once more capped at FINAL_HOOK_TIMEOUT_MS (with CIT_JOB_OUTCOME saying
 * why); the outcome stays what stopped the job. Hook exit codes never change an outcome.
 */
import { CHECKOUT_LABEL, CHECKOUT_SCRIPT } from './checkout.js'
import { FINAL_HOOK_TIMEOUT_MS, KILL_POLL_MS, RECORDER_MAX_PAUSE_MS, STEP_END_SENTINEL, STEP_READY_MARKER } from './constants.js'
import { wrapperArgv, WRAPPER_FAILED_EXIT } from './limits.js'
import { goLine, launcherArgv } from './step-launcher.js'
import { OutputPipe } from './output.js'
import { PtyCommand } from './pty-runner.js'
import type { Containment } from './containment.js'
import type { ExitStatus } from './pty-runner.js'
import type { Recorder } from './recorder.js'
import type { SandboxPlace } from './sandbox/argv.js'
import type { JobSandbox } from './sandbox/sandbox.js'
import type { Limits, Outcome, ProgressEvent, RunRequest } from './types.js'
import type { Logger } from '../../store/logger.js'

/** what one run needs: the request and everything the executor prepared for it */
export interface JobRunInit {
  req: RunRequest
  workspace: string
  /** where each command's wrapper starts (default: the workspace); a sandboxed step then enters its own */
  cwd?: string
  /** the run's sandbox: how each command enters it (both throw once the job's sandbox has ended) */
  sandbox?: Pick<JobSandbox, 'launcher' | 'entry'>
  env: Record<string, string>
  shell: string
  /** the native step launcher (step-launcher.ts); without it each command starts through the shell wrapper */
  stepLauncher?: string
  stty?: string
  limits: Limits
  timeoutMs: number
  graceMs: number
  cols: number
  rows: number
  containment: Containment
  recorder: Recorder
  log: Logger
}

/** how the run ended, before usage and artefacts are added */
export interface Decision {
  outcome: Outcome
  exitCode: number | null
  reason?: string
}

interface Stop { outcome: Exclude<Outcome, 'succeeded'>, reason: string }

/** a command started: its pty, and whether its output is passed on yet (a held launch's is kept until its go) */
interface Launch {
  cmd: PtyCommand
  passing: boolean
  early: Buffer[]
}

/** the first command of a run, started ahead of the gate (prelaunch) and waiting for its go line */
interface Held {
  launch: Launch
  label: string
  command: string
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** One job run: its commands in order, its timeout and cancel, the kill of its tree. */
export class JobRun {
  private readonly init: JobRunInit
  private readonly output: OutputPipe
  private current: PtyCommand | undefined
  private held: Held | undefined
  private stopped: Stop | undefined
  private killing: Promise<void> = Promise.resolve()
  private startedAny = false
  private cols: number
  private rows: number

  constructor (init: JobRunInit) {
    this.init = init
    this.cols = init.cols
    this.rows = init.rows
    this.output = new OutputPipe({
      recorder: init.recorder,
      maxBytes: init.limits.maxOutputBytes,
      // the launcher always turns output processing off; the wrapper does when there is an stty
      translate: init.stepLauncher !== undefined || init.stty !== undefined,
      onOutput: init.req.onOutput,
      onRawOutput: init.req.onRawOutput,
      onLimit: () => { this.stop({ outcome: 'failed', reason: `the output went over the limit of ${init.limits.maxOutputBytes} bytes` }) },
      onOutputError: err => { init.log.warn('an output listener threw', { job: init.req.jobId, err }) }
    })
  }

  get outputLimitReached (): boolean { return this.output.limitReached }

  /** keys for the running command; false when no command is running (between steps, after the end) */
  write (data: string | Buffer): boolean {
    if (this.current === undefined || !this.current.running) return false
    this.current.write(data)
    return true
  }

  /** resize this command's terminal and every later one's */
  resize (cols: number, rows: number): void {
    this.cols = cols
    this.rows = rows
    this.current?.resize(cols, rows)
    this.init.recorder.resize(cols, rows)
  }

  /** Stop the job (the first stop wins) and kill its processes. */
  stop (stop: Stop): void {
    if (this.stopped !== undefined) return
    this.stopped = stop
    this.init.recorder.marker(`cit: ${stop.reason}`)
    this.init.log.info('stopping job', { job: this.init.req.jobId, outcome: stop.outcome, reason: stop.reason })
    this.killing = this.killTree()
  }

  /**
   * Start the run's first command ahead of the gate through the step launcher's `--hold`: it joins
   * the job's cgroups (and sets its terminal and limits) now, and waits for its go line, which
   * names the sandbox's pid 1 (`place` is the sandbox without it: the holder may still be starting).
   * execute() sends the go when it reaches that command. Nothing of the job runs before: the
   * launcher execs the job's shell only after the go. Without the launcher this does nothing.
   */
  async prelaunch (place?: SandboxPlace): Promise<void> {
    const { init } = this
    if (init.stepLauncher === undefined || this.held !== undefined || this.startedAny || (init.sandbox !== undefined && place === undefined)) return
    const first = this.firstCommand()
    if (first === undefined) return
    const { file, args } = launcherArgv(init.stepLauncher, { shell: init.shell, command: first.command, sentinel: STEP_END_SENTINEL, ready: STEP_READY_MARKER, opostOff: true, ...this.limitArgs(), sandbox: place })
    const launch = await this.start(file, args, init.env, STEP_READY_MARKER)
    init.containment.addSession(launch.cmd.pid)
    this.held = { launch, ...first }
  }

  /** End a held first command that will not be let go (the run was called off); resolves once it has exited. */
  async discard (): Promise<void> {
    const held = this.held
    this.held = undefined
    if (held === undefined) return
    held.launch.cmd.kill()
    await held.launch.cmd.exited
  }

  /** the command execute() starts first, as stages() and hook() would reach it (none with extra variables) */
  private firstCommand (): { label: string, command: string } | undefined {
    const { spec, source } = this.init.req
    if (source != null) return { label: CHECKOUT_LABEL, command: CHECKOUT_SCRIPT }
    if (spec.onStart !== undefined) return { label: 'job: onStart', command: spec.onStart }
    const stage = spec.stages[0]
    if (stage === undefined) return undefined
    if (stage.onStart !== undefined) return { label: `stage: ${stage.title} / onStart`, command: stage.onStart }
    const step = stage.steps[0]
    return step === undefined ? undefined : { label: `stage: ${stage.title} / step: ${step.title}`, command: step.command }
  }

  /** Run every stage and hook; resolves once no process of the job is left. */
  async execute (): Promise<Decision> {
    const { req, timeoutMs } = this.init
    const timer = setTimeout(() => { this.stop({ outcome: 'timed-out', reason: `timed out after ${timeoutMs} ms` }) }, timeoutMs)
    const onAbort = (): void => { this.stop({ outcome: 'cancelled', reason: cancelReason(req.signal) }) }
    req.signal?.addEventListener('abort', onAbort, { once: true })
    if (req.signal?.aborted === true) onAbort()
    let failure: Decision | undefined
    try {
      failure = await this.stages()
      const outcome: Outcome = this.stopped?.outcome ?? (failure !== undefined ? 'failed' : 'succeeded')
      if (this.stopped === undefined) {
        await this.hook('job', undefined, outcome === 'succeeded' ? 'onSuccess' : 'onFailure', outcome)
      } else {
        await this.killing
        await this.finalHook(outcome)
      }
    } finally {
      clearTimeout(timer)
      req.signal?.removeEventListener('abort', onAbort)
    }
    // a held first command never let go (the job was stopped before it) ends here
    await this.discard()
    // steps may leave background processes behind; none outlives the job
    await this.killing
    if ((await this.init.containment.pids()).length > 0) await this.killTree()
    if (this.stopped !== undefined) return { outcome: this.stopped.outcome, exitCode: null, reason: this.stopped.reason }
    return failure ?? { outcome: 'succeeded', exitCode: 0 }
  }

  /** the stages in order; the failing step's decision, or undefined when every stage passed */
  private async stages (): Promise<Decision | undefined> {
    const { spec } = this.init.req
    if (this.init.req.source != null) {
      const status = await this.command(CHECKOUT_LABEL, CHECKOUT_SCRIPT)
      this.init.recorder.marker(`exit ${this.stopped !== undefined ? '-' : status.exitCode}`)
      if (this.stopped !== undefined) return undefined
      if (status.exitCode !== 0) return { outcome: 'failed', exitCode: status.exitCode, reason: `the checkout of ${this.init.req.source.commit} from ${this.init.req.source.repo} failed (exit ${status.exitCode})` }
    }
    await this.hook('job', undefined, 'onStart')
    for (const [i, stage] of spec.stages.entries()) {
      if (this.stopped !== undefined) return undefined
      this.progress({ type: 'stage-started', stage: i, title: stage.title })
      await this.hook(stage.title, i, 'onStart')
      let failure: Decision | undefined
      for (const [j, step] of stage.steps.entries()) {
        if (this.stopped !== undefined) break
        this.progress({ type: 'step-started', stage: i, step: j, title: step.title })
        const status = await this.command(`stage: ${stage.title} / step: ${step.title}`, step.command)
        this.progress({ type: 'step-finished', stage: i, step: j, title: step.title, exitCode: this.stopped !== undefined ? null : status.exitCode })
        if (this.stopped === undefined && status.exitCode !== 0 && !step.ignoreExitCode) {
          failure = { outcome: 'failed', exitCode: status.exitCode, reason: `step "${step.title}" of stage "${stage.title}" exited with ${status.exitCode}` }
          break
        }
      }
      if (this.stopped === undefined) await this.hook(stage.title, i, failure !== undefined ? 'onFailure' : 'onSuccess')
      this.progress({ type: 'stage-finished', stage: i, title: stage.title, exitCode: this.stopped !== undefined ? null : failure?.exitCode ?? 0 })
      if (failure !== undefined) return failure
    }
    return undefined
  }

  /** a job hook (stage undefined) or a stage hook; its exit code is reported, never acted on */
  private async hook (stageTitle: string, stage: number | undefined, name: 'onStart' | 'onSuccess' | 'onFailure', outcome?: Outcome): Promise<void> {
    const hooks = stage === undefined ? this.init.req.spec : this.init.req.spec.stages[stage]
    const command = hooks[name]
    if (command === undefined || this.stopped !== undefined) return
    this.progress({ type: 'hook-started', stage, title: name })
    const label = stage === undefined ? `job: ${name}` : `stage: ${stageTitle} / ${name}`
    const status = await this.command(label, command, outcome === undefined ? undefined : { CIT_JOB_OUTCOME: outcome })
    this.progress({ type: 'hook-finished', stage, title: name, exitCode: status.exitCode })
  }

  /** the job's onFailure after a stop: runs even though the job was stopped, for at most FINAL_HOOK_TIMEOUT_MS */
  private async finalHook (outcome: Outcome): Promise<void> {
    const command = this.init.req.spec.onFailure
    // a job stopped before any of its commands started (cancelled while queued for its workspace) failed at nothing
    if (command === undefined || !this.startedAny) return
    this.progress({ type: 'hook-started', title: 'onFailure' })
    const cap = setTimeout(() => { void this.killTree() }, FINAL_HOOK_TIMEOUT_MS)
    // a cancel arriving while the capped hook runs cuts it short too
    const onAbort = (): void => { void this.killTree() }
    this.init.req.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const status = await this.command('job: onFailure', command, { CIT_JOB_OUTCOME: outcome })
      this.progress({ type: 'hook-finished', title: 'onFailure', exitCode: status.exitCode })
    } finally {
      clearTimeout(cap)
      this.init.req.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** a pty running `file`; its output goes to the job's output once `passing` (at once unless held) */
  private async start (file: string, args: string[], env: Record<string, string>, ready?: string): Promise<Launch> {
    const { init } = this
    await PtyCommand.load()
    let paused = false
    const launch: Launch = { cmd: undefined as unknown as PtyCommand, passing: ready === undefined, early: [] }
    const cmd = new PtyCommand({
      file,
      args,
      cwd: init.cwd ?? init.workspace,
      env,
      cols: this.cols,
      rows: this.rows,
      ready,
      onData: data => {
        // a held launcher prints nothing before its go unless it fails: kept for after the command's label
        if (!launch.passing) {
          launch.early.push(Buffer.from(data))
          return
        }
        this.output.write(data)
        if (!paused && init.recorder.congested) {
          paused = true
          cmd.pause()
          const resume = (): void => {
            clearTimeout(timer)
            init.recorder.off('drained', resume)
            paused = false
            cmd.resume()
          }
          const timer = setTimeout(resume, RECORDER_MAX_PAUSE_MS)
          init.recorder.once('drained', resume)
        }
      }
    })
    launch.cmd = cmd
    return launch
  }

  /** the held first command when it is this one, let go (its go line sent) */
  private release (label: string, command: string, extraEnv?: Record<string, string>): PtyCommand | undefined {
    const held = this.held
    if (held === undefined) return undefined
    this.held = undefined
    const { launch } = held
    if (held.label !== label || held.command !== command || extraEnv !== undefined) {
      // never expected (firstCommand follows stages()); a launcher that cannot be used goes
      launch.cmd.kill()
      return undefined
    }
    let line: string
    try {
      line = goLine(this.init.sandbox?.entry())
    } catch (err) {
      // the sandbox has ended: the launcher is not let go
      launch.cmd.kill()
      throw err
    }
    launch.passing = true
    for (const data of launch.early.splice(0)) this.output.write(data)
    launch.cmd.go(line)
    return launch.cmd
  }

  /** one command in a fresh pty inside the job's containment (or the held one, let go) */
  private async command (label: string, command: string, extraEnv?: Record<string, string>): Promise<ExitStatus> {
    const { init } = this
    init.recorder.marker(label)
    let cmd: PtyCommand | undefined
    try {
      cmd = this.release(label, command, extraEnv)
      if (cmd === undefined) {
        const { file, args } = this.argv(command)
        cmd = (await this.start(file, args, extraEnv === undefined ? init.env : { ...init.env, ...extraEnv })).cmd
        init.containment.addSession(cmd.pid)
      }
    } catch (err: any) {
      init.log.error('could not start a command', { job: init.req.jobId, label, err })
      init.recorder.output(`cit: could not start ${label}: ${String(err?.message ?? err)}\r\n`)
      return { exitCode: WRAPPER_FAILED_EXIT }
    }
    this.startedAny = true
    init.log.debug('command spawned', { job: init.req.jobId, label })
    this.current = cmd
    try {
      return await cmd.exited
    } finally {
      this.output.end()
      this.current = undefined
    }
  }

  /** what starts one command: the step launcher, or the shell wrapper where it was not built */
  /** the limits every command of the run is started under, held or not */
  private limitArgs (): { maxFileBytes: number, nprocLimit?: number, procsFiles: string[] } {
    const { limits, containment } = this.init
    return { maxFileBytes: limits.maxFileBytes, nprocLimit: containment.nprocLimit, procsFiles: containment.procsFiles }
  }

  private argv (command: string): { file: string, args: string[] } {
    const { init } = this
    const limits = this.limitArgs()
    if (init.stepLauncher !== undefined) {
      return launcherArgv(init.stepLauncher, { shell: init.shell, command, sentinel: STEP_END_SENTINEL, opostOff: true, ...limits, sandbox: init.sandbox?.entry() })
    }
    return wrapperArgv({ shell: init.shell, command, stty: init.stty, ...limits, launcher: init.sandbox?.launcher() })
  }

  /** SIGTERM to the running command's group and every process of the job, SIGKILL after the grace period */
  private async killTree (): Promise<void> {
    const { containment, graceMs, log, req } = this.init
    this.current?.signalGroup('SIGTERM')
    await containment.signalAll('SIGTERM')
    if (await this.waitGone(graceMs)) return
    log.warn('processes outlived SIGTERM: sending SIGKILL', { job: req.jobId })
    const deadline = Date.now() + Math.max(10_000, graceMs)
    do {
      this.current?.signalGroup('SIGKILL')
      await containment.signalAll('SIGKILL')
      if (await this.waitGone(KILL_POLL_MS * 5)) return
    } while (Date.now() < deadline)
    log.error('processes of the job survived SIGKILL (uninterruptible?)', { job: req.jobId, pids: await containment.pids() })
  }

  private async waitGone (ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    for (;;) {
      const running = this.current?.running === true
      if (!running && (await this.init.containment.pids()).length === 0) return true
      if (Date.now() >= deadline) return false
      await sleep(KILL_POLL_MS)
    }
  }

  private progress (event: Omit<ProgressEvent, 'at'>): void {
    // each command's end is in the recording too, so any member can show steps with their exit codes
    if (event.type === 'step-finished' || event.type === 'hook-finished') this.init.recorder.marker(`exit ${event.exitCode ?? '-'}`)
    try {
      this.init.req.onProgress?.({ ...event, at: Date.now() })
    } catch (err) {
      this.init.log.warn('a progress listener threw', { job: this.init.req.jobId, err })
    }
  }
}

function cancelReason (signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason
  if (reason instanceof Error && reason.name !== 'AbortError' && reason.message !== '') return `cancelled: ${reason.message}`
  if (typeof reason === 'string' && reason !== '') return `cancelled: ${reason}`
  return 'cancelled'
}
