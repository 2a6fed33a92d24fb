import { parse, positionals } from '../context.js'
import type { Output } from '../output.js'

export const usage = 'cit-node cancel JOB [--json]'
export const summary = 'stop a job: a queued one never runs, a running one is killed'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [ref] = positionals(p, ['JOB'], usage)
  const job = await p.ctx.client().cancel(ref)
  io.out(p.ctx.json ? JSON.stringify(job) : `cit-node: cancel requested for ${job.name} (${job.id}), now ${job.state}`)
  return 0
}
