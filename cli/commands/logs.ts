import { parse, positionals } from '../context.js'
import type { Output } from '../output.js'

export const usage = 'cit-node logs JOB [--follow]'
export const summary = "a job's terminal output: the stored recording, or live with --follow"

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ follow?: boolean }>(argv, { follow: { type: 'boolean', short: 'f' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [ref] = positionals(p, ['JOB'], usage)
  for await (const chunk of await p.ctx.client().output(ref, p.values.follow === true)) await io.raw(chunk)
  return 0
}
