import { parse, positionals, listOf } from '../context.js'
import { withHttpDefault } from '../http-flag.js'
import type { Output } from '../output.js'

export const usage = 'cit-node start [--listen ADDR]... [--label L]... [--http [HOST:PORT]]'
export const summary = 'run the daemon in the foreground (for systemd); SIGTERM or `cit-node stop` ends it'

interface Values { listen?: string[], label?: string[], http?: string }

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(withHttpDefault(argv), { listen: { type: 'string', multiple: true }, label: { type: 'string', multiple: true }, http: { type: 'string' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const { CitNode } = await import('../../node/cit-node.js')
  const { validateConfig } = await import('../../node/config/config.js')
  const overrides: Record<string, unknown> = {}
  if (p.values.listen != null) overrides.listen = listOf(p.values.listen)
  if (p.values.label != null) overrides.labels = listOf(p.values.label)
  if (p.values.http != null) overrides.http = { listen: p.values.http }
  const flags = validateConfig(overrides)
  const node = new CitNode({
    home: p.ctx.home,
    config: Object.fromEntries(Object.entries({ listen: flags.listen, labels: flags.labels, http: flags.http }).filter(([k]) => k in overrides))
  })
  await node.start()
  const uninstall = node.installCrashHandlers()
  const onSignal = (): void => { void node.stop() }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  io.err(`cit-node: daemon ${node.identity.id} running (pid ${process.pid}, home ${p.ctx.home})`)
  await node.whenStopped
  process.off('SIGTERM', onSignal)
  process.off('SIGINT', onSignal)
  uninstall()
  io.err('cit-node: daemon stopped')
  return 0
}
