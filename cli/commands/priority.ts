import { parse, positionals } from '../context.js'
import { UsageError } from '../errors.js'
import { shortJob } from '../../node/short-id.js'
import type { Output } from '../output.js'

export const usage = 'cit-node priority JOB N [--json]'
export const summary = "change a queued job's priority (its submitter or an admin); higher runs first"

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [ref, n] = positionals(p, ['JOB', 'N'], usage)
  const priority = Number(n)
  if (!Number.isSafeInteger(priority)) throw new UsageError(`priority: ${JSON.stringify(n)} is not a whole number`)
  const job = await p.ctx.client().reprioritize(ref, priority)
  io.out(p.ctx.json ? JSON.stringify(job) : `cit-node: ${job.name} (${shortJob(job.id)}) now has priority ${job.priority}`)
  return 0
}
