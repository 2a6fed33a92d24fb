import { parse, positionals } from '../context.js'
import { bytes } from '../output.js'
import type { Output } from '../output.js'

export const usage = 'cit-node gc [--json]'
export const summary = 'free blobs and workspaces beyond the quotas (least recently used first) and report what was freed'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const r = await p.ctx.client().gc()
  if (p.ctx.json) { io.out(JSON.stringify(r)); return 0 }
  io.out([
    `blobs       removed ${r.blobs.removed} (${bytes(r.blobs.freedBytes)} freed), ${bytes(r.blobs.keptBytes)} kept, ${r.blobs.pinned} pinned`,
    `workspaces  removed ${r.workspaces.removed.length}${r.workspaces.removed.length > 0 ? ` (${r.workspaces.removed.join(', ')})` : ''}, ${bytes(r.workspaces.freedBytes)} freed, ${bytes(r.workspaces.keptBytes)} kept`
  ].join('\n'))
  return 0
}
