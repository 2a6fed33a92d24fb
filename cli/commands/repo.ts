import { readFile } from 'node:fs/promises'
import { isAbsolute, resolve } from 'node:path'
import { parse } from '../context.js'
import { CliError, UsageError } from '../errors.js'
import type { Output } from '../output.js'
import type { RepoView } from '../../node/triggers/index.js'

export const usage = 'cit-node repo add NAME --url URL [--job PATH] [--branches GLOB,...] [--github|--forgejo OWNER/REPO --secret-file F [--token-file F] [--api-url URL]] | repo list | repo remove NAME | repo stats  [--json]'
export const summary = 'repositories whose pushes build (signed records every member learns; secrets stay on this node); stats counts refused webhooks, status posts and notifications'

interface Values { url?: string, job?: string, branches?: string, github?: string, forgejo?: string, 'secret-file'?: string, 'token-file'?: string, 'api-url'?: string }

/** a secret read from a file: its first line, so a trailing newline is not part of it */
async function secretFrom (file: string | undefined, flag: string): Promise<string | undefined> {
  if (file == null) return undefined
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err: any) {
    throw new CliError('ERR_INVALID_INPUT', `${flag} ${file}: cannot read it (${String(err?.code ?? err?.message)})`)
  }
  const first = text.split(/\r?\n/)[0].trim()
  if (first === '') throw new CliError('ERR_INVALID_INPUT', `${flag} ${file}: the file is empty`)
  return first
}

function ago (at: number): string { return new Date(at).toISOString() }

function describe (r: RepoView): string {
  const forge = r.forge != null ? `  ${r.forge}:${r.project ?? ''}` : ''
  const delivery = r.lastDelivery != null ? `  last delivery ${r.lastDelivery.event} ${r.lastDelivery.outcome} ${ago(r.lastDelivery.at)}` : ''
  const status = r.lastStatus != null ? `  last status ${r.lastStatus.state} ${r.lastStatus.outcome} ${ago(r.lastStatus.at)}` : ''
  return `${r.name}  ${r.url}  job ${r.job}${r.branches.length > 0 ? `  branches ${r.branches.join(',')}` : ''}${forge}${delivery}${status}`
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(argv, {
    url: { type: 'string' },
    job: { type: 'string' },
    branches: { type: 'string' },
    github: { type: 'string' },
    forgejo: { type: 'string' },
    'secret-file': { type: 'string' },
    'token-file': { type: 'string' },
    'api-url': { type: 'string' }
  }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [sub, ...rest] = p.positionals
  const client = p.ctx.client()
  const v = p.values
  if (sub === 'add' && rest.length === 1) {
    if (v.url == null) throw new UsageError('repo add needs --url URL', [`usage: ${usage}`])
    if (v.github != null && v.forgejo != null) throw new UsageError('--github and --forgejo exclude each other', [`usage: ${usage}`])
    // a local path is absolute, so every member (and the sandboxed build) reads the same one
    const url = /^[a-z][a-z0-9+.-]*:/i.test(v.url) || v.url.includes('@') || isAbsolute(v.url) ? v.url : resolve(v.url)
    const project = v.github ?? v.forgejo
    const body = {
      name: rest[0],
      url,
      job: v.job,
      branches: v.branches != null ? v.branches.split(',').map(b => b.trim()).filter(b => b !== '') : [],
      ...(project != null ? { forge: v.github != null ? 'github' : 'forgejo', project } : {}),
      apiUrl: v['api-url'],
      secret: await secretFrom(v['secret-file'], '--secret-file'),
      token: await secretFrom(v['token-file'], '--token-file')
    }
    const r = await client.request<RepoView>('POST', '/v1/repos', body)
    if (p.ctx.json) io.out(JSON.stringify(r))
    else io.out(`cit-node: repository ${r.name} registered (${r.url}, job file ${r.job})`)
    return 0
  }
  if (sub === 'list' && rest.length === 0) {
    const list = await client.request<RepoView[]>('GET', '/v1/repos')
    if (p.ctx.json) io.out(JSON.stringify(list))
    else if (list.length === 0) io.err('cit-node: no repositories (`cit-node repo add` registers one)')
    else for (const r of list) io.out(describe(r))
    return 0
  }
  if (sub === 'remove' && rest.length === 1) {
    const r = await client.request<{ name: string }>('DELETE', `/v1/repos/${encodeURIComponent(rest[0])}`)
    if (p.ctx.json) io.out(JSON.stringify(r))
    else io.out(`cit-node: repository ${r.name} removed`)
    return 0
  }
  if (sub === 'stats' && rest.length === 0) {
    const s = await client.request<Record<string, Record<string, number>>>('GET', '/v1/repos/stats')
    if (p.ctx.json) io.out(JSON.stringify(s))
    else for (const [group, counts] of Object.entries(s)) for (const [k, n] of Object.entries(counts)) io.out(`${group} ${k}: ${n}`)
    return 0
  }
  throw new UsageError(sub == null ? 'missing subcommand (add, list, remove or stats)' : `unknown or incomplete subcommand ${JSON.stringify([sub, ...rest].join(' '))}`, [`usage: ${usage}`])
}
