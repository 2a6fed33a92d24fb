import type { Libp2p, Stream, Connection } from '@libp2p/interface'

/** what the guard needs of libp2p: the protocols it serves and stream middleware */
export type GuardedLibp2p = Pick<Libp2p, 'getProtocols' | 'use'>

export interface InviteGuardOptions {
  /** whether a peer is a full member (anything else the gater admits is an invite key) */
  isMember: (peerId: string) => boolean
  /** the protocols an invite key may open (the join protocol) */
  open: readonly string[]
  /** told of each stream refused, with the protocol */
  onRefused?: (peerId: string, protocol: string) => void
}

/** a stream an invite key may not open */
export class InviteKeyStreamError extends Error {
  readonly code = 'ERR_NOT_ALLOWED'
  constructor (protocol: string) {
    super(`an invite key may open ${protocol === '' ? 'no protocol but join' : `no ${protocol} stream`}`)
    this.name = 'InviteKeyStreamError'
  }
}

/**
 * The gater admits members and invite keys (a new machine joins under its token's invite key).
 * This keeps an invite key to the join protocol: every other protocol this node serves
 * (gossip, DHT, identify, sync, fetch, attach, lease) gets stream middleware that refuses a
 * stream to or from a peer that is not a member, inbound and outbound, before its handler runs.
 * Call it once every service has registered its protocols.
 */
export function guardInviteKeys (libp2p: GuardedLibp2p, options: InviteGuardOptions): string[] {
  const guarded = libp2p.getProtocols().filter(p => !options.open.includes(p))
  for (const protocol of guarded) {
    libp2p.use(protocol, (stream: Stream, connection: Connection, next: (s: Stream, c: Connection) => void) => {
      const peer = connection.remotePeer.toString()
      if (!options.isMember(peer)) {
        options.onRefused?.(peer, protocol)
        throw new InviteKeyStreamError(protocol)
      }
      next(stream, connection)
    })
  }
  return guarded
}
