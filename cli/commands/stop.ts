import { parse, positionals } from '../context.js'
import { CliError, EXIT } from '../errors.js'
import { homePaths } from '../../node/home.js'
import { isAlive, readLivePid } from '../../node/pidfile.js'
import type { Output } from '../output.js'

export const usage = 'cit-node stop [--wait] [--json]'
export const summary = 'stop the background daemon of this home: its running jobs are handed over to other members (or, with --wait, finished first)'

/** how long `stop` waits for the daemon's process to exit */
export const STOP_WAIT_MS = 30_000

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ wait?: boolean }>(argv, { wait: { type: 'boolean' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const pid = await readLivePid(homePaths(p.ctx.home).pidfile)
  const wait = p.values.wait === true
  await p.ctx.client().stop({ wait })
  // with --wait the running jobs finish first, however long they take
  const deadline = wait ? Infinity : Date.now() + STOP_WAIT_MS
  while (pid != null && isAlive(pid)) {
    if (Date.now() > deadline) throw new CliError('ERR_STOP_TIMEOUT', `the daemon (pid ${pid}) did not exit within ${STOP_WAIT_MS / 1000} s`, EXIT.UNREACHABLE)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  io.out(p.ctx.json ? JSON.stringify({ stopped: true, pid: pid ?? null }) : `cit-node: daemon stopped${pid != null ? ` (pid ${pid})` : ''}`)
  return 0
}
