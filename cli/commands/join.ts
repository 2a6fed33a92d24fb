import { listOf, parse, positionals } from '../context.js'
import { withHttpDefault } from '../http-flag.js'
import { assertNoDaemon, spawnDaemon } from '../daemon.js'
import type { Output } from '../output.js'

export const usage = 'cit-node join TOKEN [--listen ADDR]... [--label L]... [--http [HOST:PORT]] [--json]'
export const summary = 'make this machine a member of the mesh the token invites to, and start its daemon'

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ listen?: string[], label?: string[], http?: string }>(withHttpDefault(argv), { listen: { type: 'string', multiple: true }, label: { type: 'string', multiple: true }, http: { type: 'string' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [token] = positionals(p, ['TOKEN'], usage)
  const { joinMeshHome, saveNodeFlags } = await import('../../node/mesh/enroll.js')
  const { validateConfig } = await import('../../node/config/config.js')
  const { homePaths } = await import('../../node/home.js')
  const { snapshotHome } = await import('../../node/home-snapshot.js')
  const flags = validateConfig({ listen: listOf(p.values.listen), labels: listOf(p.values.label), ...(p.values.http != null ? { http: { listen: p.values.http } } : {}) })
  await assertNoDaemon(p.ctx.home)
  // a failed join leaves the home as it was (an invite token serves until it expires: retry with it)
  const before = await snapshotHome(p.ctx.home)
  let joined: Awaited<ReturnType<typeof joinMeshHome>>
  try {
    joined = await joinMeshHome(p.ctx.home, token.trim())
    await saveNodeFlags(p.ctx.home, homePaths(p.ctx.home).config, flags)
    await spawnDaemon(p.ctx.home)
  } catch (err) {
    await before.restore()
    throw err
  }
  const { peerId, meshId, decoded } = joined
  if (p.ctx.json) io.out(JSON.stringify({ peerId, token: token.trim(), mesh: meshId, roles: decoded.roles }))
  else io.out(`cit-node: joined mesh ${meshId.slice(0, 16)}… as ${peerId} (roles: ${decoded.roles.join(', ')}); daemon running`)
  return 0
}
