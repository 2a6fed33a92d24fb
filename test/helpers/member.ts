import { multiaddr } from '@multiformats/multiaddr'
import { createMeshLibp2p } from '../../protocols/net/index.js'
import { joinMeshHome } from '../../node/mesh/enroll.js'
import { homePaths, loadOrCreateIdentity } from '../../node/home.js'
import { cli, json, tempHome, waitFor } from './cli.js'
import type { Identity } from '../../protocols/codec/index.js'
import type { MeshLibp2p } from '../../protocols/net/index.js'

/** A key that joined a mesh through a real invite, speaking from this process (no daemon of its own). */
export interface InProcessMember {
  identity: Identity
  libp2p: MeshLibp2p
  /** the multiaddr of the daemon it connected to */
  addr: string
  /** stop the libp2p node and remove the member's home */
  stop: () => Promise<void>
}

/**
 * Invite a key with `roles` on the daemon in `adminHome`, enroll it (the join protocol, as
 * `cit-node join` does) and connect a libp2p node with that key to the daemon at `port`. The
 * member can then open any protocol stream or publish anything, as a misbehaving member would.
 */
export async function joinInProcess (adminHome: string, daemon: { port: number, peerId: string }, roles: string, options: { isAllowed?: (peerId: string) => boolean } = {}): Promise<InProcessMember> {
  const t = await tempHome('cit-member-')
  let libp2p: MeshLibp2p | undefined
  try {
    const { token } = json(await cli(['invite', '--role', roles, '--json'], { home: adminHome }))
    await joinMeshHome(t.dir, token)
    const identity = await loadOrCreateIdentity(homePaths(t.dir))
    const addr = `/ip4/127.0.0.1/tcp/${daemon.port}/p2p/${daemon.peerId}`
    libp2p = await createMeshLibp2p({
      privateKey: identity.privateKey,
      listen: [],
      bootstrap: [addr],
      isAllowed: options.isAllowed ?? (() => true)
    })
    const node = libp2p
    await waitFor(async () => {
      if (node.getConnections().some(c => c.remotePeer.toString() === daemon.peerId && c.status === 'open')) return true
      await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(3000) }).catch(() => {})
      return undefined
    }, { timeoutMs: 20_000, what: 'the member to connect to the daemon' })
    return { identity, libp2p: node, addr, stop: async () => { await node.stop(); await t.cleanup() } }
  } catch (err) {
    await libp2p?.stop()
    await t.cleanup()
    throw err
  }
}
