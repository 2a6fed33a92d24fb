import { parse, positionals } from '../context.js'
import type { Output } from '../output.js'

export const usage = 'cit-node leave [--json]'
export const summary = 'tell the mesh this node is gone and stop its daemon (the home keeps its history)'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const r = await p.ctx.client().leave()
  io.out(p.ctx.json ? JSON.stringify(r) : 'cit-node: left the mesh; the daemon is stopping')
  return 0
}
