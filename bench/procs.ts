import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess, SpawnOptions } from 'node:child_process'

/** true while a process with this pid exists (and is not a zombie we could reap) */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err?.code === 'EPERM'
  }
}

export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) { reject(signal.reason); return }
    const onAbort = (): void => { clearTimeout(t); reject(signal?.reason) }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Poll `check` until it returns something other than undefined/false, at most until `timeoutMs`
 * has passed (then it throws naming `what`).
 */
export async function pollUntil<T> (check: () => Promise<T | undefined | false> | T | undefined | false, options: { timeoutMs: number, intervalMs: number, what: string, signal?: AbortSignal }): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  let last: unknown
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v as T
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${last != null ? `: ${String((last as Error)?.message ?? last)}` : ''}`)
    }
    await sleep(options.intervalMs, options.signal)
  }
}

/**
 * Every process and temp directory the bench made, so that all of them go away on success, on an
 * error and on Ctrl-C. Processes are ended by their own pid (and process group, for the detached
 * ones that lead one), never by name.
 */
export class Registry {
  private readonly pids = new Map<number, { what: string, group: boolean }>()
  private readonly dirs = new Set<string>()

  /** spawn and remember a child; a detached child leads its own process group */
  spawn (what: string, file: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn(file, args, options)
    // a failed spawn (ENOENT) is reported by the missing pid; the later 'error' event must not crash the bench
    child.on('error', () => {})
    if (child.pid == null) throw new Error(`could not start ${what} (${file})`)
    this.track(child.pid, what, options.detached === true)
    child.once('exit', () => { this.pids.delete(child.pid!) })
    return child
  }

  track (pid: number, what: string, group = false): void {
    this.pids.set(pid, { what, group })
  }

  forget (pid: number): void {
    this.pids.delete(pid)
  }

  /** a fresh directory under the system temp dir; short, since Unix socket paths are limited */
  tempDir (prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix))
    this.dirs.add(dir)
    return dir
  }

  removeDir (dir: string): void {
    rmSync(dir, { recursive: true, force: true })
    this.dirs.delete(dir)
  }

  private signal (pid: number, sig: NodeJS.Signals): void {
    const entry = this.pids.get(pid)
    try {
      process.kill(entry?.group === true ? -pid : pid, sig)
    } catch {
      try { process.kill(pid, sig) } catch {}
    }
  }

  /** SIGTERM one process, SIGKILL it after `graceMs`; resolves once it is gone */
  async stop (pid: number, graceMs: number): Promise<void> {
    if (isAlive(pid)) {
      this.signal(pid, 'SIGTERM')
      const deadline = Date.now() + graceMs
      while (isAlive(pid) && Date.now() < deadline) await sleep(25)
      if (isAlive(pid)) this.signal(pid, 'SIGKILL')
      const hard = Date.now() + 5000
      while (isAlive(pid) && Date.now() < hard) await sleep(25)
    }
    this.pids.delete(pid)
  }

  /** end everything still running (SIGTERM, then SIGKILL) and remove every temp dir */
  async cleanup (graceMs: number): Promise<void> {
    await Promise.all([...this.pids.keys()].map(async pid => { await this.stop(pid, graceMs) }))
    for (const dir of [...this.dirs]) {
      try { this.removeDir(dir) } catch {}
    }
  }

  /** last resort at process exit: synchronous SIGKILL of whatever is left, and temp dirs removed */
  killNow (): void {
    for (const pid of [...this.pids.keys()]) this.signal(pid, 'SIGKILL')
    this.pids.clear()
    for (const dir of [...this.dirs]) {
      try { rmSync(dir, { recursive: true, force: true }) } catch {}
    }
    this.dirs.clear()
  }

  get running (): Array<{ pid: number, what: string }> {
    return [...this.pids].map(([pid, e]) => ({ pid, what: e.what }))
  }
}

/** Run a command to completion, bounded in time; resolves with its exit code and output. */
export async function runCommand (registry: Registry, file: string, args: string[], options: { timeoutMs: number, env?: NodeJS.ProcessEnv, input?: string, cwd?: string }): Promise<{ code: number | null, stdout: string, stderr: string, ms: number }> {
  const started = performance.now()
  // its own process group, so that a timeout also ends what it started (which may hold its pipes open)
  const child = registry.spawn(`${file} ${args[0] ?? ''}`, file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => { if (stdout.length < 1 << 20) stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 1 << 20) stderr += d.toString() })
  child.stdin!.on('error', () => {})
  child.stdin!.end(options.input ?? '')
  const timer = setTimeout(() => {
    try { process.kill(-child.pid!, 'SIGKILL') } catch { child.kill('SIGKILL') }
  }, options.timeoutMs)
  const code = await new Promise<number | null>(resolve => {
    child.once('error', () => { resolve(null) })
    child.once('close', c => { resolve(c) })
  })
  clearTimeout(timer)
  return { code, stdout, stderr, ms: performance.now() - started }
}
