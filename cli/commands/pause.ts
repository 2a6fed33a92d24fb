import { parse, positionals } from '../context.js'
import type { Output } from '../output.js'

export const usage = 'cit-node pause [--json]'
export const summary = 'stop claiming new jobs (running ones go on)'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const s = await p.ctx.client().setState('paused')
  io.out(p.ctx.json ? JSON.stringify(s) : `cit-node: node is ${s.state}${s.running.length > 0 ? ` (${s.running.length} job${s.running.length === 1 ? '' : 's'} running)` : ''}`)
  return 0
}
