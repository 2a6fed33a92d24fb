import { execFileSync } from 'node:child_process'
import { chmod, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from '../context.js'
import { CliError, UsageError } from '../errors.js'
import type { Output } from '../output.js'
import type { RepoView } from '../../node/triggers/index.js'

export const usage = 'cit-node hook install PATH [--name NAME] [--job PATH] [--branches GLOB,...] | hook uninstall PATH  [--json]'
export const summary = 'a git hook that builds pushed commits (post-receive in a bare repository, post-commit in a working one)'

/** the CLI's entry, which the hook runs */
const CLI_ENTRY = fileURLToPath(new URL('../main.js', import.meta.url))

interface Values { name?: string, job?: string, branches?: string }

export const BEGIN = '# >>> cit-node: builds pushed commits (`cit-node hook uninstall` removes this block)'
export const END = '# <<< cit-node'

const quote = (s: string): string => `'${s.replace(/'/g, '\'\\\'\'')}'`

interface RepoAt { bare: boolean, hooks: string, top: string }

function inspect (path: string): RepoAt {
  const git = (args: string[]): string => execFileSync('git', ['-C', path, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  try {
    const bare = git(['rev-parse', '--is-bare-repository']) === 'true'
    const hooksRel = git(['rev-parse', '--git-path', 'hooks'])
    const top = bare ? git(['rev-parse', '--absolute-git-dir']) : git(['rev-parse', '--show-toplevel'])
    return { bare, hooks: isAbsolute(hooksRel) ? hooksRel : resolve(path, hooksRel), top }
  } catch (err: any) {
    throw new CliError('ERR_INVALID_INPUT', `${path} is not a git repository (${String(err?.stderr ?? err?.message ?? err).split('\n')[0].trim()})`)
  }
}

/** the hook's block: the trigger through the local daemon, never failing the push */
function block (home: string, name: string, hook: string): string {
  return [BEGIN, `CIT_HOME=${quote(home)} ${quote(process.execPath)} ${quote(CLI_ENTRY)} trigger ${quote(name)} --hook ${hook} || true`, END].join('\n')
}

async function readHook (file: string): Promise<string | undefined> {
  try { return await readFile(file, 'utf8') } catch (err: any) { if (err?.code === 'ENOENT') return undefined; throw err }
}

function withoutBlock (text: string): string {
  const start = text.indexOf(BEGIN)
  const end = text.indexOf(END, start)
  if (start < 0 || end < 0) return text
  return (text.slice(0, start) + text.slice(end + END.length)).replace(/\n{3,}/g, '\n\n')
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(argv, { name: { type: 'string' }, job: { type: 'string' }, branches: { type: 'string' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [sub, path, ...rest] = p.positionals
  if ((sub !== 'install' && sub !== 'uninstall') || path == null || rest.length > 0) {
    throw new UsageError(sub == null ? 'missing subcommand (install or uninstall)' : 'hook install|uninstall PATH', [`usage: ${usage}`])
  }
  const at = inspect(resolve(path))
  const hookName = at.bare ? 'post-receive' : 'post-commit'
  const file = join(at.hooks, hookName)
  const current = await readHook(file)
  if (sub === 'uninstall') {
    const left = current == null ? undefined : withoutBlock(current)
    if (left != null && left !== current) {
      if (left.replace(/^#!.*\n?/, '').trim() === '') await rm(file, { force: true })
      else await writeFile(file, left)
    }
    const removed = left != null && left !== current
    if (p.ctx.json) io.out(JSON.stringify({ hook: file, removed }))
    else io.out(`cit-node: ${removed ? `removed the cit-node block from ${file}` : `no cit-node hook in ${file}`}`)
    return 0
  }
  const client = p.ctx.client()
  const repos = await client.request<RepoView[]>('GET', '/v1/repos')
  let repo = repos.find(r => r.url === at.top)
  if (repo == null) {
    const name = p.values.name ?? basename(at.top).replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '')
    const branches = p.values.branches?.split(',').map(b => b.trim()).filter(b => b !== '') ?? []
    repo = await client.request<RepoView>('POST', '/v1/repos', { name, url: at.top, job: p.values.job, branches })
    if (!p.ctx.json) io.err(`cit-node: repository ${repo.name} registered (${repo.url})`)
  }
  if (current != null && !current.includes(BEGIN)) {
    throw new CliError('ERR_INVALID_INPUT', `${file} exists and is not cit-node's: add this line to it yourself (post-receive: before anything reads stdin)`, [block(p.ctx.home, repo.name, hookName).split('\n')[1]])
  }
  const text = current == null ? `#!/bin/sh\n${block(p.ctx.home, repo.name, hookName)}\n` : withoutBlock(current).replace(/\n*$/, '\n') + block(p.ctx.home, repo.name, hookName) + '\n'
  await writeFile(file, text)
  await chmod(file, 0o755)
  if (p.ctx.json) io.out(JSON.stringify({ hook: file, repo: repo.name, kind: hookName }))
  else io.out(`cit-node: ${hookName} hook installed in ${file}: pushes to ${repo.name} build through this node's daemon`)
  return 0
}
