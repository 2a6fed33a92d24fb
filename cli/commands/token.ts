import { parse } from '../context.js'
import { UsageError } from '../errors.js'
import { parseTtl } from './invite.js'
import type { Output } from '../output.js'
import type { TokenView } from '../../node/http/tokens.js'

export const usage = 'cit-node token create --role submit|read [--expires 30d] [--label TEXT] | token list | token revoke ID [--purge]  [--json]'
export const summary = 'bearer tokens for the HTTP face: submit (writes and reads) or read, bound to this node'

interface Values { role?: string, expires?: string, label?: string, purge?: boolean }

function describe (t: TokenView): string {
  const expires = t.expiresAt == null ? 'no expiry' : `expires ${new Date(t.expiresAt).toISOString()}`
  return `${t.id}  ${t.role.padEnd(6)}  ${t.state.padEnd(7)}  created ${new Date(t.createdAt).toISOString()}  ${expires}${t.label != null ? `  ${t.label}` : ''}`
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(argv, { role: { type: 'string' }, expires: { type: 'string' }, label: { type: 'string' }, purge: { type: 'boolean' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [sub, ...rest] = p.positionals
  const client = p.ctx.client()
  if (sub === 'create' && rest.length === 0) {
    if (p.values.role == null) throw new UsageError('token create needs --role submit or --role read', [`usage: ${usage}`])
    const ttlMs = p.values.expires != null ? parseTtl(p.values.expires) : undefined
    const t = await client.tokenCreate({ role: p.values.role, ttlMs, label: p.values.label })
    if (p.ctx.json) io.out(JSON.stringify(t))
    else {
      io.err(`cit-node: token ${t.id} (${t.role}) for this node's HTTP face, ${t.expiresAt == null ? 'no expiry' : `valid until ${new Date(t.expiresAt).toISOString()}`}; it is shown once: keep it`)
      io.out(t.token)
    }
    return 0
  }
  if (sub === 'list' && rest.length === 0) {
    const list = await client.tokenList()
    if (p.ctx.json) io.out(JSON.stringify(list))
    else if (list.length === 0) io.err('cit-node: no tokens')
    else for (const t of list) io.out(describe(t))
    return 0
  }
  if (sub === 'revoke' && rest.length === 1) {
    const t = await client.tokenRevoke(rest[0], p.values.purge === true)
    if (p.ctx.json) io.out(JSON.stringify(t))
    else io.out(`cit-node: token ${t.id} ${p.values.purge === true ? 'removed' : 'revoked'}`)
    return 0
  }
  throw new UsageError(sub == null ? 'missing subcommand (create, list or revoke)' : `unknown or incomplete subcommand ${JSON.stringify([sub, ...rest].join(' '))}`, [`usage: ${usage}`])
}
