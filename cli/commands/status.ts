import { parse, positionals } from '../context.js'
import { ago, bytes } from '../output.js'
import type { Output } from '../output.js'

export const usage = 'cit-node status [--json]'
export const summary = 'this node: peer id, pid, addresses, state, load, running jobs and how jobs are isolated'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const s = await p.ctx.client().status()
  if (p.ctx.json) { io.out(JSON.stringify(s)); return 0 }
  io.out([
    `peer     ${s.peerId}`,
    `pid      ${s.pid} (up ${ago(s.startedAt).replace(' ago', '')})`,
    `home     ${s.home}`,
    `mesh     ${s.mesh ?? '-'}`,
    `state    ${s.state}`,
    `labels   ${s.labels.length > 0 ? s.labels.join(', ') : '-'}`,
    `addrs    ${s.addrs.length > 0 ? s.addrs.join(' ') : '-'}`,
    `load     ${s.load.load1.toFixed(2)} on ${s.load.cores} cores, ${bytes(s.load.memFreeBytes)} free, ${s.load.slotsFree} free slot${s.load.slotsFree === 1 ? '' : 's'}`,
    `running  ${s.running.length > 0 ? s.running.join(' ') : '-'}`,
    `nix key  ${s.nixCacheKey ?? '-'}`,
    `isolation ${s.isolation === 'sandbox' ? `sandbox (${s.isolationDetail})` : `NONE: jobs run as the daemon's user (${s.isolationDetail})`}`
  ].join('\n'))
  return 0
}
