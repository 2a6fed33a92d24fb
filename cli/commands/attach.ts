import { setFlagsFromString } from 'node:v8'
import { parse, positionals } from '../context.js'
import { openBridge } from '../attach/bridge.js'
import { processTerminalIO, runAttachTerminal } from '../attach/terminal.js'
import { homePaths } from '../../node/home.js'
import type { Output } from '../output.js'

export const usage = 'cit-node attach JOB [--rw]'
export const summary = "a running job's terminal, live, wherever it runs; --rw (submitter or admin) sends keys; detach with Ctrl-] d"

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ rw?: boolean }>(argv, { rw: { type: 'boolean' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [ref] = positionals(p, ['JOB'], usage)
  // a session's keys pass through code this process has not run yet: compile each function to
  // baseline code on its first call instead of interpreting it until V8 finds it hot
  setFlagsFromString('--always-sparkplug')
  const term = processTerminalIO()
  const session = await openBridge(homePaths(p.ctx.home).socket, p.ctx.home, ref, p.values.rw === true ? 'rw' : 'ro', term.size() ?? {})
  const controller = new AbortController()
  const stop = (): void => { controller.abort() }
  process.on('SIGTERM', stop)
  process.on('SIGHUP', stop)
  try {
    const r = await runAttachTerminal(session, term, { job: ref, signal: controller.signal })
    return r.exitCode
  } finally {
    process.off('SIGTERM', stop)
    process.off('SIGHUP', stop)
  }
}
