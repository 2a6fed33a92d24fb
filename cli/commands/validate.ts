import { parse, positionals, listOf } from '../context.js'
import { CliError } from '../errors.js'
import { loadJob } from '../jobfile.js'
import type { Output } from '../output.js'

export const usage = 'cit-node validate FILE [--param K=V]... [--json]'
export const summary = 'check a job file and name each problem by its field'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ param?: string[] }>(argv, { param: { type: 'string', multiple: true } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [file] = positionals(p, ['FILE'], usage)
  try {
    const job = await loadJob(file, listOf(p.values.param))
    const steps = job.spec.stages.reduce((n, s) => n + s.steps.length, 0)
    if (p.ctx.json) io.out(JSON.stringify({ valid: true, name: job.spec.name, stages: job.spec.stages.length, steps, problems: [] }))
    else io.out(`${file}: ok (${job.spec.name}: ${job.spec.stages.length} stage${job.spec.stages.length === 1 ? '' : 's'}, ${steps} step${steps === 1 ? '' : 's'})`)
    return 0
  } catch (err) {
    if (!(err instanceof CliError) || !p.ctx.json) throw err
    io.out(JSON.stringify({ valid: false, problems: err.details }))
    return err.exitCode
  }
}
