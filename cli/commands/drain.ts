import { parse, positionals } from '../context.js'
import type { Output } from '../output.js'

export const usage = 'cit-node drain [--json]'
export const summary = 'finish the running jobs, then claim nothing'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const s = await p.ctx.client().setState('draining')
  io.out(p.ctx.json ? JSON.stringify(s) : `cit-node: node is ${s.state}${s.running.length > 0 ? ` (${s.running.length} job${s.running.length === 1 ? '' : 's'} running)` : ''}`)
  return 0
}
