import { parse, positionals } from '../context.js'
import { formatJob } from '../output.js'
import type { Output } from '../output.js'

export const usage = 'cit-node show JOB [--json]'
export const summary = 'one job: its events, executor, exit code, usage, artefacts and log hash'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}\nJOB is a job id, a unique prefix of one (4+ hex digits) or a job name (its newest job)`); return 0 }
  const [ref] = positionals(p, ['JOB'], usage)
  const job = await p.ctx.client().show(ref)
  io.out(p.ctx.json ? JSON.stringify(job) : formatJob(job))
  return 0
}
