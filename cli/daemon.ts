import { spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ControlClient } from './client.js'
import { CliError } from './errors.js'
import { homePaths } from '../node/home.js'
import { isAlive } from '../node/pidfile.js'
import type { StatusView } from '../node/control/types.js'

/** how long to wait for a background daemon's control socket */
export const DAEMON_READY_TIMEOUT_MS = 30_000
const MAIN = fileURLToPath(new URL('./main.js', import.meta.url))

/**
 * How every daemon's Node.js runs, wherever the CLI starts one (`init`, `join`, `start -d`; the
 * bench too; a service manager sets the same through NODE_OPTIONS and the environment, see
 * docs/operations.md). V8 lets the young generation grow to 16 MiB per semi-space and keeps it
 * grown after a burst of work: 1 MiB keeps an idle daemon ~20 MiB smaller at the cost of more,
 * smaller scavenges (the daemon's large buffers live outside the V8 heap). glibc gives every
 * thread that allocates an arena of its own and seldom returns them; two is enough for a daemon
 * whose allocating threads are the main one and libuv's small pool.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1']
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' }

/** what a daemon started in the background tells its parent over the IPC channel */
export type StartReport = { ready: true } | { error: { code: string, message: string } }

/**
 * Start `cit-node start` for this home in the background (detached, output to `daemon.out` in
 * the home) and wait until its control socket answers. A daemon that cannot start says why over
 * an IPC channel (its error's code and one-line message), which this rethrows as it is.
 */
export async function spawnDaemon (home: string, args: string[] = []): Promise<StatusView> {
  const outPath = join(home, 'daemon.out')
  const out = openSync(outPath, 'a', 0o600)
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, MAIN, 'start', '--home', home, ...args], {
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
    env: { ...DAEMON_ENV, ...process.env, CIT_HOME: home }
  })
  closeSync(out)
  let report: StartReport | undefined
  child.on('message', (m: StartReport) => { report ??= m })
  try {
    return await waitReady(home, child.pid ?? -1, () => report, outPath)
  } catch (err) {
    // a daemon that is still starting after the deadline would hold the home: it goes
    if (child.exitCode == null && child.pid != null) { try { process.kill(child.pid, 'SIGKILL') } catch {} }
    throw err
  } finally {
    if (child.connected) child.disconnect()
    child.unref()
  }
}

async function waitReady (home: string, pid: number, report: () => StartReport | undefined, outPath: string): Promise<StatusView> {
  const client = new ControlClient(homePaths(home).socket, home)
  const deadline = Date.now() + DAEMON_READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    const r = report()
    if (r != null && 'error' in r) throw new CliError(r.error.code, r.error.message)
    try {
      return await client.status()
    } catch (err: any) {
      if (err?.code !== 'ERR_DAEMON_UNREACHABLE') throw err
    }
    if (!isAlive(pid)) {
      // it may have said why just before it went
      await new Promise(resolve => setTimeout(resolve, 50))
      const last = report()
      if (last != null && 'error' in last) throw new CliError(last.error.code, last.error.message)
      const tail = readFileSync(outPath, 'utf8').trim().split('\n').filter(l => l.startsWith('cit-node: ')).slice(-1).join('')
      throw new CliError('ERR_DAEMON_START', `the daemon exited at start${tail !== '' ? `: ${tail.slice('cit-node: '.length)}` : ` (see ${outPath})`}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new CliError('ERR_DAEMON_START', `the daemon did not answer within ${DAEMON_READY_TIMEOUT_MS / 1000} s (see ${outPath})`)
}

/**
 * In a daemon started by spawnDaemon: tell the parent it is ready, or why it could not start
 * (waiting until the message is out), then let go of the channel. Nothing when run by hand.
 */
export async function reportStart (report: StartReport): Promise<void> {
  if (typeof process.send !== 'function' || !process.connected) return
  await new Promise<void>(resolve => { process.send!(report, undefined, {}, () => { resolve() }) })
  process.disconnect()
}

/** refuse to go on while a daemon holds this home (init and join start their own) */
export async function assertNoDaemon (home: string): Promise<void> {
  try {
    const s = await new ControlClient(homePaths(home).socket, home).status()
    throw new CliError('ERR_DAEMON_RUNNING', `a daemon is running for this home (pid ${s.pid}): \`cit-node stop\` it first`)
  } catch (err: any) {
    if (err?.code !== 'ERR_DAEMON_UNREACHABLE') throw err
  }
}
