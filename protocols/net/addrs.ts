import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** a known member: its peer id and the addresses it was announced with */
export interface KnownPeer {
  peerId: PeerId
  addrs: Multiaddr[]
}

/**
 * Parse `/ip4/…/tcp/…/p2p/12D3KooW…` strings and group them by peer. Every entry must name its
 * peer (`/p2p/…`): the gater judges peers, and a dial without one cannot be checked before the
 * handshake. Returns the peers and one problem string per bad entry (`bootstrap[2]: …`).
 */
export function parsePeerAddrs (list: readonly string[], field: string): { peers: KnownPeer[], problems: string[] } {
  const byPeer = new Map<string, KnownPeer>()
  const problems: string[] = []
  list.forEach((entry, i) => {
    let ma: Multiaddr
    try {
      ma = multiaddr(entry)
    } catch (err) {
      problems.push(`${field}[${i}]: not a multiaddr (${(err as Error).message}): ${JSON.stringify(entry)}`)
      return
    }
    const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
    if (id == null) {
      problems.push(`${field}[${i}]: names no peer (add /p2p/<peer id>): ${entry}`)
      return
    }
    let peerId: PeerId
    try {
      peerId = peerIdFromString(id)
    } catch {
      problems.push(`${field}[${i}]: not a peer id: ${id}`)
      return
    }
    const known = byPeer.get(id) ?? { peerId, addrs: [] }
    known.addrs.push(ma)
    byPeer.set(id, known)
  })
  return { peers: [...byPeer.values()], problems }
}

/** problems with listen addresses (empty when all parse) */
export function checkListenAddrs (list: readonly string[]): string[] {
  const problems: string[] = []
  list.forEach((entry, i) => {
    try {
      multiaddr(entry)
    } catch (err) {
      problems.push(`listen[${i}]: not a multiaddr (${(err as Error).message}): ${JSON.stringify(entry)}`)
    }
  })
  return problems
}
