import { execFileSync } from 'node:child_process'
import { text } from 'node:stream/consumers'
import { parse } from '../context.js'
import { UsageError } from '../errors.js'
import { enqueue } from '../../node/triggers/queue.js'
import type { Output } from '../output.js'

export const usage = 'cit-node trigger REPO (--commit SHA --ref REF [--pr N] | --hook post-receive|post-commit) [--wait] [--json]'
export const summary = 'build a commit of a registered repository now (the git hooks run this; a stopped daemon gets it queued)'

interface Values { commit?: string, ref?: string, pr?: string, hook?: string, wait?: boolean }
interface Wanted { repo: string, commit: string, ref: string, pr?: number }

/** how long a hook waits for the daemon before it queues the trigger instead */
export const HOOK_TIMEOUT_MS = 10_000
const ZERO = /^0+$/

/** what a post-receive hook's stdin (`OLD NEW REF` lines) asks to build: new heads of branches */
export function pushedRefs (input: string, repo: string): Wanted[] {
  const out: Wanted[] = []
  for (const line of input.split('\n')) {
    const [, commit, ref] = line.trim().split(/\s+/)
    if (commit == null || ref == null || ZERO.test(commit) || !ref.startsWith('refs/heads/')) continue
    out.push({ repo, commit, ref })
  }
  return out
}

function gitOut (args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(argv, { commit: { type: 'string' }, ref: { type: 'string' }, pr: { type: 'string' }, hook: { type: 'string' }, wait: { type: 'boolean' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [repo, ...extra] = p.positionals
  if (repo == null || extra.length > 0) throw new UsageError('trigger needs one repository name', [`usage: ${usage}`])
  const v = p.values
  let wanted: Wanted[]
  if (v.hook === 'post-receive') wanted = pushedRefs(await text(process.stdin), repo)
  else if (v.hook === 'post-commit') {
    const commit = gitOut(['rev-parse', 'HEAD'])
    const ref = gitOut(['symbolic-ref', '-q', 'HEAD'])
    wanted = commit != null && ref != null ? [{ repo, commit, ref }] : []
  } else if (v.hook != null) {
    throw new UsageError(`--hook ${v.hook}: post-receive or post-commit`, [`usage: ${usage}`])
  } else {
    if (v.commit == null || v.ref == null) throw new UsageError('trigger needs --commit and --ref (or --hook)', [`usage: ${usage}`])
    const pr = v.pr != null ? Number(v.pr) : undefined
    if (pr != null && (!Number.isSafeInteger(pr) || pr <= 0)) throw new UsageError('--pr: a pull request number')
    wanted = [{ repo, commit: v.commit, ref: v.ref, ...(pr != null ? { pr } : {}) }]
  }
  const client = p.ctx.client()
  const results: unknown[] = []
  for (const w of wanted) {
    const short = `${w.ref.replace(/^refs\/heads\//, '')} ${w.commit.slice(0, 10)}`
    try {
      const r = await client.request('POST', '/v1/triggers', { ...w, wait: v.wait === true, via: v.hook ?? 'cli' }, v.hook != null ? AbortSignal.timeout(HOOK_TIMEOUT_MS) : undefined)
      results.push(r)
      if (!p.ctx.json) io.err(`cit-node: ${repo} ${short}: ${v.wait === true ? JSON.stringify(r) : 'sent to the daemon'}`)
    } catch (err: any) {
      // a hook never fails or holds up a push: what the daemon could not take now, it gets when it starts
      if (v.hook == null) throw err
      if (err?.code === 'ERR_DAEMON_UNREACHABLE' || err?.name === 'TimeoutError' || err?.name === 'AbortError') {
        try {
          await enqueue(p.ctx.home, { repo: w.repo, commit: w.commit, ref: w.ref })
          io.err(`cit-node: the daemon is not running: the build of ${repo} ${short} is queued and sent when it starts`)
        } catch (e: any) {
          io.err(`cit-node: the daemon is not running and the build of ${repo} ${short} could not be queued (${String(e?.code ?? e?.message ?? e)})`)
        }
      } else {
        io.err(`cit-node: ${repo} ${short} not built: ${String(err?.message ?? err)}`)
      }
    }
  }
  if (p.ctx.json) io.out(JSON.stringify(results))
  return 0
}
