import { listOf, parse, positionals } from '../context.js'
import { withHttpDefault } from '../http-flag.js'
import { assertNoDaemon, spawnDaemon } from '../daemon.js'
import type { Output } from '../output.js'

export const usage = 'cit-node init [--listen ADDR]... [--label L]... [--http [HOST:PORT]] [--json]'
export const summary = 'create a new mesh with this machine as its first member and admin; prints a join token'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ listen?: string[], label?: string[], http?: string }>(withHttpDefault(argv), { listen: { type: 'string', multiple: true }, label: { type: 'string', multiple: true }, http: { type: 'string' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  positionals(p, [], usage)
  const { createMeshHome, saveNodeFlags } = await import('../../node/mesh/enroll.js')
  const { validateConfig } = await import('../../node/config/config.js')
  const { homePaths } = await import('../../node/home.js')
  const { snapshotHome } = await import('../../node/home-snapshot.js')
  const flags = validateConfig({ listen: listOf(p.values.listen), labels: listOf(p.values.label), ...(p.values.http != null ? { http: { listen: p.values.http } } : {}) })
  await assertNoDaemon(p.ctx.home)
  // a failed init leaves the home as it was: a member whose daemon never started is a dead end
  const before = await snapshotHome(p.ctx.home)
  let made: { peerId: string, meshId: string }
  try {
    made = await createMeshHome(p.ctx.home)
    await saveNodeFlags(p.ctx.home, homePaths(p.ctx.home).config, flags)
    await spawnDaemon(p.ctx.home)
  } catch (err) {
    await before.restore()
    throw err
  }
  const { peerId, meshId } = made
  const { token } = await p.ctx.client().invite({})
  if (p.ctx.json) io.out(JSON.stringify({ peerId, token, mesh: meshId }))
  else {
    io.err(`cit-node: created mesh ${meshId.slice(0, 16)}… with this node (${peerId}) as admin; daemon running`)
    io.err('cit-node: on another machine, run: cit-node join TOKEN   (this token lets machines join for 24 h)')
    io.out(token)
  }
  return 0
}
