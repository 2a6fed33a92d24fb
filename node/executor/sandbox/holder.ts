/**
 * The holder of one job's namespaces: a bubblewrap process whose pid 1 stays up while the job
 * runs (argv.ts explains the design). It ends when the daemon closes its stdin, when the daemon
 * dies (`--die-with-parent`, and the pipe closes too), or when `close()` kills its pid 1, which
 * takes every process still in the job's pid namespace with it.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseStat } from '../procs.js'
import { SANDBOX_START_TIMEOUT_MS } from './constants.js'
import { SandboxFailedError } from './errors.js'
import type { ChildProcess } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'

/** how long close() waits for bubblewrap to go after its pid 1 was killed */
const CLOSE_WAIT_MS = 5000
/** most bytes of bubblewrap's stderr kept for an error message */
const STDERR_KEEP = 2048

function startTimeOf (pid: number): number | undefined {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTime
  } catch {
    return undefined
  }
}

/** A running holder: its pid 1 in the daemon's pid namespace, and the means to end it. */
export class Holder {
  private exited = false
  private readonly exit: Promise<void>

  /** `initStart`: its pid 1's start time (ticks after boot), which names it with the pid */
  private constructor (private readonly child: ChildProcess, readonly initPid: number, readonly initStart: number) {
    this.exit = new Promise<void>(resolve => {
      if (child.exitCode !== null || child.signalCode !== null) resolve()
      child.once('exit', () => { resolve() })
    }).then(() => { this.exited = true })
  }

  /**
   * Start bubblewrap with `args.options` (handed over on fd 4, never on its command line),
   * `args.command`, and the contents of its own files on fd 5 on, and wait for it to report its
   * pid 1 on fd 3.
   */
  static async start (bwrap: string, args: { options: readonly string[], command: readonly string[], data?: readonly string[] }, signal?: AbortSignal): Promise<Holder> {
    signal?.throwIfAborted()
    // its own process group: a ^C meant for a daemon in a terminal stops the daemon, which then
    // ends its jobs in order, rather than every sandbox at once
    const data = args.data ?? []
    const child = spawn(bwrap, ['--args', '4', '--', ...args.command], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', ...data.map(() => 'pipe' as const)], detached: true })
    let stderr = ''
    ;(child.stdio[2] as Readable).on('data', (d: Buffer) => { if (stderr.length < STDERR_KEEP) stderr += d.toString() })
    const argsPipe = child.stdio[4] as Writable
    argsPipe.on('error', () => {})
    ;(child.stdin as Writable).on('error', () => {})
    argsPipe.end(args.options.map(a => `${a}\0`).join(''))
    data.forEach((text, i) => {
      const pipe = child.stdio[5 + i] as Writable
      pipe.on('error', () => {})
      pipe.end(text)
    })
    try {
      const [initPid] = await Promise.all([readInfo(child, signal), readReady(child)])
      const initStart = startTimeOf(initPid)
      if (initStart === undefined) throw new SandboxFailedError('the sandbox ended as it started')
      return new Holder(child, initPid, initStart)
    } catch (err: any) {
      child.kill('SIGKILL')
      if (err?.name === 'AbortError' || signal?.aborted === true) throw err
      const detail = stderr.trim().split('\n').slice(-3).join(' | ')
      throw new SandboxFailedError(`could not set up the job's sandbox: ${String(err?.message ?? err)}${detail !== '' ? ` (bwrap: ${detail})` : ''}`, { cause: err })
    }
  }

  /** whether the namespaces are still up (and `initPid` is still the holder's, not a reused pid) */
  get alive (): boolean {
    return !this.exited && startTimeOf(this.initPid) === this.initStart
  }

  /** End the sandbox and every process left in it; resolves once bubblewrap has exited. */
  async close (): Promise<void> {
    this.child.stdin?.end()
    if (this.alive) {
      try {
        process.kill(this.initPid, 'SIGKILL')
      } catch {}
    }
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, CLOSE_WAIT_MS)
    try {
      await this.exit
    } finally {
      clearTimeout(timer)
    }
  }
}

/** resolves once the payload says the sandbox is set up (or never: readInfo's deadline covers it) */
async function readReady (child: ChildProcess): Promise<void> {
  const out = child.stdout as Readable
  await new Promise<void>(resolve => {
    let text = ''
    const onData = (d: Buffer): void => {
      text += d.toString()
      if (!text.includes('\n')) return
      out.off('data', onData)
      out.resume()
      resolve()
    }
    out.on('data', onData)
    out.on('error', () => {})
    child.once('exit', () => { resolve() })
  })
}

/** the `child-pid` bubblewrap writes to its info fd, as soon as the JSON is whole */
async function readInfo (child: ChildProcess, signal?: AbortSignal): Promise<number> {
  const info = child.stdio[3] as Readable
  return await new Promise<number>((resolve, reject) => {
    let text = ''
    const done = (err?: Error, pid?: number): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      info.off('data', onData)
      child.off('exit', onExit)
      child.off('error', onError)
      if (err !== undefined) reject(err)
      else resolve(pid!)
    }
    const onData = (d: Buffer): void => {
      text += d.toString()
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        if (text.length > 64 * 1024) done(new Error('unreadable sandbox info'))
        return
      }
      const pid = (parsed as Record<string, unknown>)?.['child-pid']
      if (typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 1) done(undefined, pid)
      else done(new Error('the sandbox info names no child pid'))
    }
    const onExit = (code: number | null, sig: string | null): void => { done(new Error(`bwrap exited (${sig ?? String(code)})`)) }
    const onError = (err: Error): void => { done(err) }
    const onAbort = (): void => { done(signal!.reason instanceof Error ? signal!.reason : new Error('aborted')) }
    const timer = setTimeout(() => { done(new Error(`no answer within ${SANDBOX_START_TIMEOUT_MS} ms`)) }, SANDBOX_START_TIMEOUT_MS)
    info.on('data', onData)
    info.on('error', () => {})
    child.once('exit', onExit)
    child.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
