import { parse, positionals, listOf } from '../context.js'
import { assertNoDaemon, reportStart, spawnDaemon } from '../daemon.js'
import { withHttpDefault } from '../http-flag.js'
import { isKnownCode } from '../../node/error-codes.js'
import type { Parsed } from '../context.js'
import type { Output } from '../output.js'

export const usage = 'cit-node start [-d|--background] [--listen ADDR]... [--label L]... [--http [HOST:PORT]] [--json]'
export const summary = 'run the daemon in the foreground (for systemd), or in the background with -d; SIGTERM or `cit-node stop` ends it'

interface Values { listen?: string[], label?: string[], http?: string, background?: boolean }

/** `start -d`: the daemon in the background, as `init` and `join` start it; returns once it answers */
async function background (p: Parsed<Values>, io: Output): Promise<number> {
  await assertNoDaemon(p.ctx.home)
  const args = [
    ...listOf(p.values.listen).flatMap(a => ['--listen', a]),
    ...listOf(p.values.label).flatMap(l => ['--label', l]),
    ...(p.values.http != null ? [`--http=${p.values.http}`] : [])
  ]
  const s = await spawnDaemon(p.ctx.home, args)
  if (p.ctx.json) io.out(JSON.stringify(s))
  else io.out(`cit-node: daemon ${s.peerId} running in the background (pid ${s.pid}, home ${p.ctx.home}); \`cit-node stop\` stops it`)
  return 0
}

export async function run (argv: string[], io: Output): Promise<number> {
  try {
    return await foreground(argv, io)
  } catch (err: any) {
    // the parent that started this daemon in the background (init, join, start -d) says why in one line
    const known = isKnownCode(err?.code)
    const message = known ? String(err.message) : `the daemon could not start: ${String(err?.message ?? err).split('\n')[0]} (daemon.out in the home has the rest)`
    await reportStart({ error: { code: known ? err.code : 'ERR_DAEMON_START', message } })
    throw err
  }
}

async function foreground (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(withHttpDefault(argv), {
    listen: { type: 'string', multiple: true },
    label: { type: 'string', multiple: true },
    http: { type: 'string' },
    background: { type: 'boolean', short: 'd' }
  }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  if (p.values.background === true) return await background(p, io)
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
  const { fullCollection, mallocTrim, startReclaimer } = await import('../../node/memory/index.js')
  const stopReclaimer = startReclaimer(node.log, fullCollection(), mallocTrim())
  const onSignal = (): void => { void node.stop() }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  io.err(`cit-node: daemon ${node.identity.id} running (pid ${process.pid}, home ${p.ctx.home})`)
  await reportStart({ ready: true })
  await node.whenStopped
  process.off('SIGTERM', onSignal)
  process.off('SIGINT', onSignal)
  uninstall()
  stopReclaimer()
  io.err('cit-node: daemon stopped')
  return 0
}
