import type { Libp2p, Stream, StreamMiddleware, Connection } from '@libp2p/interface'

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
  copyMiddlewareLists(libp2p)
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

type Registrar = { getMiddleware: (protocol: string) => StreamMiddleware[], [COPIES]?: true }
const COPIES = Symbol('cit:middleware-copies')

/**
 * libp2p 3.x appends an inbound stream's handler to the very list `getMiddleware` returns, the
 * one registered with `use()`: every later stream of that protocol, inbound or outbound, would
 * run every earlier stream's handler too. Hand each stream its own copy of the list.
 */
function copyMiddlewareLists (libp2p: GuardedLibp2p): void {
  const registrar = (libp2p as unknown as { components?: { registrar?: Registrar } }).components?.registrar
  if (registrar == null || typeof registrar.getMiddleware !== 'function') throw new TypeError('guardInviteKeys: this libp2p has no registrar to guard')
  if (registrar[COPIES] === true) return
  const get = registrar.getMiddleware.bind(registrar)
  registrar.getMiddleware = (protocol: string) => [...get(protocol)]
  registrar[COPIES] = true
}
