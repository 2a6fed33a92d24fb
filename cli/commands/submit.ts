import { listOf, parse, positionals } from '../context.js'
import { clientBackend } from '../backend.js'
import { UsageError } from '../errors.js'
import { cancelOnInterrupt, followAndWait } from '../follow.js'
import { loadJob } from '../jobfile.js'
import type { Output } from '../output.js'

export const usage = 'cit-node submit FILE [--param K=V]... [--priority N] [--wait] [--follow] [--json]\n       cit-node submit --nix FILE.nix... [--priority N] [--wait] [--follow] [--json]'
export const summary = 'announce a job from this machine; --wait exits with its outcome'

interface Values { param?: string[], priority?: string, wait?: boolean, follow?: boolean, nix?: boolean }

export function priorityOf (value: string | undefined): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new UsageError(`--priority: ${JSON.stringify(value)} is not a whole number`)
  return n
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(argv, {
    param: { type: 'string', multiple: true, short: 'p' },
    priority: { type: 'string' },
    wait: { type: 'boolean' },
    follow: { type: 'boolean', short: 'f' },
    nix: { type: 'boolean' }
  }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  if (p.values.nix === true) {
    if (p.values.param != null) throw new UsageError('--param does not apply to Nix jobs', [`usage: ${usage}`])
    const { submitNix } = await import('./submit-nix.js')
    return await submitNix(p.positionals, p.ctx, io, { priority: priorityOf(p.values.priority), wait: p.values.wait === true, follow: p.values.follow === true })
  }
  const [file] = positionals(p, ['FILE'], usage)
  const priority = priorityOf(p.values.priority)
  const job = await loadJob(file, listOf(p.values.param))
  const client = p.ctx.client()
  const backend = clientBackend(client)
  const view = await backend.submit({ spec: job.spec, params: job.overrides, priority })
  if (p.values.wait !== true && p.values.follow !== true) {
    io.out(p.ctx.json ? JSON.stringify({ id: view.id }) : view.id)
    return 0
  }
  if (!p.ctx.json) io.err(`cit-node: submitted ${view.name} as job ${view.id}`)
  const self = p.ctx.json ? undefined : (await client.status().catch(() => undefined))?.peerId
  const release = cancelOnInterrupt(backend, () => view.id, io)
  try {
    return await followAndWait(backend, view.id, io, { follow: p.values.follow === true, json: p.ctx.json, self, submitted: view })
  } finally {
    release()
  }
}
