import { parse, positionals } from '../context.js'
import { UsageError } from '../errors.js'
import { ago, shortId, table } from '../output.js'
import { shortPeer } from '../../node/short-id.js'
import type { Output } from '../output.js'
import type { JobSummary } from '../../node/jobs/types.js'

export const usage = 'cit-node jobs [--limit N] [--json]'
export const summary = 'list jobs, newest first'

/** the node that ran it; a cache hit ran nothing, its result is the one of the node named */
function executorCell (j: JobSummary): string {
  if (j.cacheHit) return j.executor == null ? 'cache' : `${shortPeer(j.executor)} (cache)`
  return shortPeer(j.executor)
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ limit?: string }>(argv, { limit: { type: 'string', short: 'n' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const limit = p.values.limit == null ? 100 : Number(p.values.limit)
  if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`--limit: ${JSON.stringify(p.values.limit)} is not a whole number ≥ 1`)
  const jobs = await p.ctx.client().list({ limit })
  if (p.ctx.json) { io.out(JSON.stringify(jobs)); return 0 }
  if (jobs.length === 0) { io.out('no jobs'); return 0 }
  io.out(table(['JOB', 'NAME', 'STATE', 'PRIO', 'SUBMITTED', 'EXECUTOR'],
    jobs.map(j => [shortId(j.id), j.name, j.state, String(j.priority), ago(j.submittedAt), executorCell(j)])))
  return 0
}
