import { parse, positionals, listOf } from '../context.js'
import { clientBackend, nodeBackend } from '../backend.js'
import { cancelOnInterrupt, followAndWait } from '../follow.js'
import { loadJob } from '../jobfile.js'
import { priorityOf } from './submit.js'
import type { Backend } from '../backend.js'
import type { Output } from '../output.js'

export const usage = 'cit-node run FILE [--param K=V]... [--priority N] [--json]'
export const summary = 'run a job here and now (with a node of its own if no daemon is running) and exit with its outcome'

interface Values { param?: string[], priority?: string }

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(argv, { param: { type: 'string', multiple: true, short: 'p' }, priority: { type: 'string' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [file] = positionals(p, ['FILE'], usage)
  const priority = priorityOf(p.values.priority)
  // validate before anything starts: a broken file queues nothing
  const job = await loadJob(file, listOf(p.values.param))

  let backend: Backend
  let self: string
  let stopNode: (() => Promise<void>) | undefined
  const client = p.ctx.client()
  try {
    self = (await client.status()).peerId
    backend = clientBackend(client)
  } catch (err: any) {
    if (err?.code !== 'ERR_DAEMON_UNREACHABLE') throw err
    // the embedded default: a node of our own for the duration of this job
    const { CitNode } = await import('../../node/cit-node.js')
    const node = new CitNode({ home: p.ctx.home })
    await node.start()
    self = node.identity.id
    backend = nodeBackend(node.handlers)
    stopNode = async () => { await node.stop() }
  }
  let id: string | undefined
  const release = cancelOnInterrupt(backend, () => id, io)
  try {
    // here and now: pinned to the node this command talks to, whichever members the mesh has
    const view = await backend.submit({ spec: job.spec, params: job.overrides, priority, here: true })
    id = view.id
    return await followAndWait(backend, view.id, io, { follow: !p.ctx.json, json: p.ctx.json, self })
  } finally {
    release()
    await stopNode?.()
  }
}
