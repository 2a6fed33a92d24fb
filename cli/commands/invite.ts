import { parse, positionals } from '../context.js'
import { UsageError } from '../errors.js'
import { parseDuration } from '../../protocols/job/values.js'
import type { Output } from '../output.js'

export const usage = 'cit-node invite [--role submit,build,read,admin] [--expires 24h] [--json]'
export const summary = 'print a join token for this mesh (admin only) carrying this node\'s addresses'

/**
 * `--expires`: a duration in the job file's syntax (`90s`, `30m`, `24h`, `7d`, `1h30m`) → ms. One
 * table of units serves both (protocols/job/values.ts).
 */
export function parseTtl (text: string): number {
  const ms = parseDuration(text)
  if (ms == null || ms <= 0) throw new UsageError(`--expires: ${JSON.stringify(text)} is not a duration like 30m, 24h or 7d`)
  return ms
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ role?: string[], expires?: string }>(argv, { role: { type: 'string', multiple: true }, expires: { type: 'string' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const roles = p.values.role?.flatMap(r => r.split(',')).map(r => r.trim()).filter(r => r !== '')
  const ttlMs = p.values.expires != null ? parseTtl(p.values.expires) : undefined
  const r = await p.ctx.client().invite({ roles, ttlMs })
  if (p.ctx.json) io.out(JSON.stringify(r))
  else {
    io.err(`cit-node: token for roles ${r.roles.join(', ')}, valid until ${new Date(r.expiresAt).toISOString()}`)
    io.out(r.token)
  }
  return 0
}
