import type { ConnectionGater, Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from '../../store/logger.js'
import { RateLimitedLog } from './log-limit.js'

/** decides whether a peer id (the `12D3KooW…` string) is a member that may connect */
export type IsAllowed = (peerId: string) => boolean

/**
 * A connection gater that admits members only. Peers are checked once their identity is proven
 * (after the noise handshake, before any stream protocol runs), in both directions, and before
 * dialing at all. Address filters are off: members on loopback and private networks are normal
 * here, and some libp2p versions deny private addresses by default.
 */
export function membershipGater (isAllowed: IsAllowed, logger: Logger): ConnectionGater {
  const log = new RateLimitedLog(logger)
  const deny = (peerId: PeerId, where: string): boolean => {
    const id = peerId.toString()
    let allowed = false
    try {
      allowed = isAllowed(id)
    } catch (err) {
      // a failing membership check must fail closed
      logger.error('membership check failed', { peer: id, err: String(err) })
    }
    if (!allowed) log.log('info', `${where}:${id}`, 'connection refused: not a member', { peer: id, where })
    return !allowed
  }
  return {
    denyDialMultiaddr: () => false,
    denyDialPeer: (peerId) => deny(peerId, 'dial'),
    denyOutboundConnection: (peerId) => deny(peerId, 'outbound'),
    denyInboundEncryptedConnection: (peerId) => deny(peerId, 'inbound'),
    denyOutboundEncryptedConnection: (peerId) => deny(peerId, 'outbound')
  }
}

/**
 * Close every connection to a peer that is no longer allowed (after a revocation: the gater
 * only judges new connections). Returns the peer ids that were disconnected.
 */
export async function disconnectDisallowed (
  libp2p: Pick<Libp2p, 'getConnections' | 'hangUp'>,
  isAllowed: IsAllowed,
  options: { signal?: AbortSignal } = {}
): Promise<string[]> {
  const peers = new Map<string, PeerId>()
  for (const conn of libp2p.getConnections()) {
    const id = conn.remotePeer.toString()
    let allowed = false
    try { allowed = isAllowed(id) } catch { allowed = false }
    if (!allowed) peers.set(id, conn.remotePeer)
  }
  await Promise.all([...peers.values()].map(async (peer) => {
    await libp2p.hangUp(peer, options).catch(() => {
      // a graceful close that fails must not leave a revoked peer connected
      for (const conn of libp2p.getConnections(peer)) conn.abort(new Error('peer is no longer a member'))
    })
  }))
  return [...peers.keys()]
}
