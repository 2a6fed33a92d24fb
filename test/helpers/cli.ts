import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ControlClient } from '../../cli/client.js'
import type { ChildProcess } from 'node:child_process'

/** the built CLI (`npm test` builds before running vitest) */
export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js')
export const ROOT = resolve(import.meta.dirname, '../..')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** A temp directory removed by `cleanup()`. Homes are short paths: a Unix socket path has a length limit. */
export async function tempHome (prefix = 'cit-'): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** Run `cit-node ARGS` to completion in a fresh process, bounded in time. */
export async function cli (args: string[], options: { home: string, cwd?: string, timeoutMs?: number, env?: NodeJS.ProcessEnv, input?: string }): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env, CIT_HOME: options.home },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, options.timeoutMs ?? 60_000)
  const code = await new Promise<number | null>(resolve => child.on('close', code => { resolve(code) }))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

import { waitFor } from './wait.js'
export { waitFor }

export interface Daemon {
  pid: number
  child: ChildProcess
  home: string
  /** stop it (SIGTERM, then SIGKILL after a grace period); resolves when it has exited */
  kill: (signal?: NodeJS.Signals) => Promise<void>
  output: () => string
}

const started = new Set<Daemon>()

/** Start `cit-node start` in the background in `home` and wait until its control socket answers. */
export async function startDaemon (home: string, args: string[] = []): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, 'start', ...args], {
    cwd: ROOT,
    env: { ...process.env, CIT_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<void>(resolve => child.on('exit', () => { resolve() }))
  const daemon: Daemon = {
    pid: child.pid!,
    child,
    home,
    output: () => out,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode == null && child.signalCode == null) {
        child.kill(signal)
        const t = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
        await exited
        clearTimeout(t)
      }
      started.delete(daemon)
    }
  }
  started.add(daemon)
  // asked over the control socket from this process, as `cit-node status` would: a CLI process
  // spawned every 50 ms per starting daemon took as much CPU as the daemons it waited for
  const client = new ControlClient(join(home, 'control.sock'), home)
  await waitFor(async () => {
    if (child.exitCode != null) throw new Error(`daemon exited early: ${out}`)
    // a refusal or a status that takes too long is "not yet", and the last one is named on timeout
    await withTimeout(client.status(), 10_000)
    return true
  }, { timeoutMs: 30_000, intervalMs: 100, what: `the daemon in ${home}` })
  return daemon
}

/** Kill every daemon a test started and has not stopped (call in afterEach/afterAll). */
export async function killAllDaemons (): Promise<void> {
  await Promise.all([...started].map(async d => { await d.kill('SIGKILL') }))
}

export { freePort } from '../../bench/ports.js'

/** parse a command's --json output, failing with its stderr when it did not succeed */
export function json<T = any> (r: CliResult): T {
  if (r.code !== 0) throw new Error(`command failed (${String(r.code)}): ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** `p`, or a rejection after `ms` (the promise itself is left to settle) */
async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no answer in ${ms} ms`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}
