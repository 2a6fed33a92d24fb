import { parse, positionals } from '../context.js'
import { bytes, duration, table } from '../output.js'
import type { Output } from '../output.js'

export const usage = 'cit-node peers [--json]'
export const summary = 'every known node with its last load report and the report\'s age'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const peers = await p.ctx.client().peers()
  if (p.ctx.json) { io.out(JSON.stringify(peers)); return 0 }
  io.out(table(['PEER', 'STATE', 'LOAD', 'SLOTS', 'MEM FREE', 'LABELS', 'REPORT'],
    peers.map(v => [
      `${v.peerId}${v.self ? ' (this node)' : ''}`,
      v.state,
      `${v.load.load1.toFixed(2)}/${v.load.cores}`,
      `${v.load.slotsFree}/${v.slots}`,
      bytes(v.load.memFreeBytes),
      v.labels.join(',') || '-',
      v.self ? 'now' : `${duration(v.reportAgeMs)} ago`
    ])))
  return 0
}
