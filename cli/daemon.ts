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
 * Start `cit-node start` for this home in the background (detached, output to `daemon.out` in
 * the home) and wait until its control socket answers.
 */
export async function spawnDaemon (home: string): Promise<StatusView> {
  const paths = homePaths(home)
  const outPath = join(home, 'daemon.out')
  const out = openSync(outPath, 'a', 0o600)
  const child = spawn(process.execPath, [MAIN, 'start', '--home', home], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, CIT_HOME: home }
  })
  closeSync(out)
  child.unref()
  const pid = child.pid ?? -1
  const client = new ControlClient(paths.socket, home)
  const deadline = Date.now() + DAEMON_READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    try {
      return await client.status()
    } catch (err: any) {
      if (err?.code !== 'ERR_DAEMON_UNREACHABLE') throw err
    }
    if (!isAlive(pid)) {
      const tail = readFileSync(outPath, 'utf8').trim().split('\n').slice(-3).join(' | ')
      throw new CliError('ERR_DAEMON_START', `the daemon exited at start: ${tail}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new CliError('ERR_DAEMON_START', `the daemon did not answer within ${DAEMON_READY_TIMEOUT_MS / 1000} s (see ${outPath})`)
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
