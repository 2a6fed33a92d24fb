import { parse, positionals } from '../context.js'
import type { Output } from '../output.js'

export const usage = 'cit-node cancel JOB [--json]'
export const summary = 'stop a job: a queued one never runs, a running one is killed'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [ref] = positionals(p, ['JOB'], usage)
  const job = await p.ctx.client().cancel(ref)
  io.out(p.ctx.json ? JSON.stringify(job) : cancelLine(job))
  return 0
}

/** what a person reads: done, or asked of the node that runs it (a running job stops when it hears) */
export function cancelLine (job: { name: string, id: string, state: string, executor?: string | null }): string {
  const what = `${job.name} (${job.id.slice(0, 12)})`
  if (job.state === 'cancelled') return `cit-node: ${what} cancelled`
  if (['succeeded', 'failed', 'timed-out', 'superseded'].includes(job.state)) return `cit-node: ${what} had already ended (${job.state}): nothing to cancel`
  return `cit-node: cancel requested for ${what}: it stops as soon as the node running it hears (\`cit-node show ${job.id.slice(0, 12)}\` tells when it has)`
}
