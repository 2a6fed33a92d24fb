import { parse } from '../context.js'
import { UsageError } from '../errors.js'
import { table } from '../output.js'
import { parseTtl } from './invite.js'
import type { Output } from '../output.js'

export const usage = 'cit-node trust list | grant KEY ROLE[,ROLE...] [--expires 30d] | revoke KEY  [--json]'
export const summary = 'list, grant and revoke roles (submit, build, read, admin) for keys'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ expires?: string }>(argv, { expires: { type: 'string' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [sub, ...args] = p.positionals
  const client = p.ctx.client()
  if (sub === 'list' && args.length === 0) {
    const t = await client.trustList()
    if (p.ctx.json) { io.out(JSON.stringify(t)); return 0 }
    io.out(table(['KEY', 'ROLES', 'GRANTED BY', 'SINCE'], t.members.map(m => [m.keyId, m.roles.join(','), m.grantedBy, new Date(m.since).toISOString()])))
    return 0
  }
  if (sub === 'grant' && args.length === 2) {
    const r = await client.trustGrant({ key: args[0], roles: args[1].split(','), ttlMs: p.values.expires != null ? parseTtl(p.values.expires) : undefined })
    io.out(p.ctx.json ? JSON.stringify(r) : `cit-node: granted ${args[1]} to ${args[0]}`)
    return 0
  }
  if (sub === 'revoke' && args.length === 1) {
    const r = await client.trustRevoke({ key: args[0] })
    io.out(p.ctx.json ? JSON.stringify(r) : `cit-node: revoked every role of ${args[0]}`)
    return 0
  }
  throw new UsageError(sub == null ? 'missing a subcommand' : `bad arguments for trust ${sub}`, [`usage: ${usage}`])
}
