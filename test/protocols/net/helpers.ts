import { Identity } from '../../../protocols/codec/index.js'
import { createMeshLibp2p } from '../../../protocols/net/index.js'
import type { MeshLibp2p, MeshLibp2pOptions } from '../../../protocols/net/index.js'

/** the TCP port a started node listens on */
export function portOf (node: MeshLibp2p): number {
  const addr = node.getMultiaddrs()[0]
  const port = addr.getComponents().find(c => c.name === 'tcp')?.value
  if (port == null) throw new Error(`no tcp port in ${addr.toString()}`)
  return Number(port)
}

/** a node's first address with its peer id, as a bootstrap entry */
export function addrOf (node: MeshLibp2p): string {
  return node.getMultiaddrs()[0].toString()
}

/**
 * Real libp2p nodes on 127.0.0.1 in this process, sharing one membership set.
 * `stop()` stops every node made (call it in afterEach).
 */
export class TestMesh {
  readonly members = new Set<string>()
  private readonly nodes: MeshLibp2p[] = []

  /** a new identity, added to the members unless `member: false` */
  async identity (member = true): Promise<Identity> {
    const id = await Identity.generate()
    if (member) this.members.add(id.id)
    return id
  }

  /** start a node; it allows the members of this mesh unless `isAllowed` says otherwise */
  async node (identity: Identity, options: Partial<MeshLibp2pOptions> = {}): Promise<MeshLibp2p> {
    const node = await createMeshLibp2p({
      privateKey: identity.privateKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      isAllowed: (peer) => this.members.has(peer),
      ...options
    })
    this.nodes.push(node)
    return node
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.splice(0).map(async n => { await n.stop() }))
  }
}

/** whether `a` has an open connection to `b` */
export function connected (a: MeshLibp2p, b: MeshLibp2p): boolean {
  return a.getConnections(b.peerId).some(c => c.status === 'open')
}

/** whether `a`'s peer store holds an address for `b` (identify has run) */
export async function knowsAddress (a: MeshLibp2p, b: MeshLibp2p): Promise<boolean> {
  const peer = await a.peerStore.get(b.peerId).catch(() => undefined)
  return (peer?.addresses.length ?? 0) > 0
}
