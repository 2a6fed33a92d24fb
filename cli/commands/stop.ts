import { parse, positionals } from '../context.js'
import { CliError } from '../errors.js'
import { homePaths } from '../../node/home.js'
import { isAlive, readLivePid } from '../../node/pidfile.js'
import type { Output } from '../output.js'

export const usage = 'cit-node stop [--json]'
export const summary = 'stop the background daemon of this home and wait for it to exit'

/** how long `stop` waits for the daemon's process to exit */
export const STOP_WAIT_MS = 30_000

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const pid = await readLivePid(homePaths(p.ctx.home).pidfile)
  await p.ctx.client().stop()
  const deadline = Date.now() + STOP_WAIT_MS
  while (pid != null && isAlive(pid)) {
    if (Date.now() > deadline) throw new CliError('ERR_STOP_TIMEOUT', `the daemon (pid ${pid}) did not exit within ${STOP_WAIT_MS / 1000} s`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  io.out(p.ctx.json ? JSON.stringify({ stopped: true, pid: pid ?? null }) : `cit-node: daemon stopped${pid != null ? ` (pid ${pid})` : ''}`)
  return 0
}
