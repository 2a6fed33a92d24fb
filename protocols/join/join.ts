import { decodeCbor, encodeCbor, isRecord, MalformedMessageError, ProtocolError } from '../codec/index.js'
import { FrameReader, writeFrame } from '../codec/frames.js'
import { JOIN_FRAME_TIMEOUT_MS, JOIN_HANGUP_GRACE_MS, JOIN_PROTOCOL, MAX_JOIN_ADDRS, MAX_JOIN_REPLY_BYTES, MAX_JOIN_REQUEST_BYTES } from './constants.js'
import type { Logger } from '../../store/logger.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The answer to a join: whether the enrollment counts, and what the new member needs to start. */
export interface JoinReply {
  ok: boolean
  /** a stable reason code when refused */
  reason?: string
  /** trust records of the mesh (grants, revocations, enrollments), oldest first */
  records: Uint8Array[]
  /** multiaddrs (with /p2p/) of members to dial */
  addrs: string[]
}

/** refused by the member it asked */
export class JoinRefusedError extends ProtocolError {
  constructor (readonly reason: string) {
    super('ERR_JOIN_REFUSED', `the mesh refused to enroll this machine: ${reason}`)
    this.name = 'JoinRefusedError'
  }
}

function parseReply (bytes: Uint8Array): JoinReply {
  const raw = decodeCbor(bytes, MAX_JOIN_REPLY_BYTES)
  if (!isRecord(raw) || typeof raw.ok !== 'boolean') throw new MalformedMessageError('join reply is not a map with ok')
  const records = raw.records ?? []
  const addrs = raw.addrs ?? []
  if (!Array.isArray(records) || !records.every(r => r instanceof Uint8Array)) throw new MalformedMessageError('join reply records are not byte strings')
  if (!Array.isArray(addrs) || addrs.length > MAX_JOIN_ADDRS || !addrs.every(a => typeof a === 'string' && a.length <= 512)) throw new MalformedMessageError('join reply addrs are malformed')
  if (raw.reason !== undefined && (typeof raw.reason !== 'string' || raw.reason.length > 200)) throw new MalformedMessageError('join reply reason is malformed')
  return { ok: raw.ok, reason: raw.reason as string | undefined, records: records as Uint8Array[], addrs: addrs as string[] }
}

/**
 * Ask a member to enroll this machine: send the enrollment record signed by the invite key
 * (this libp2p node runs under the invite key) and receive the mesh's trust records.
 */
export async function requestJoin (libp2p: Pick<Libp2p, 'dialProtocol'>, addr: Multiaddr, enroll: Uint8Array, options: { signal: AbortSignal }): Promise<JoinReply> {
  const stream = await libp2p.dialProtocol(addr, JOIN_PROTOCOL, { signal: options.signal })
  try {
    await writeFrame(stream, enroll, options.signal)
    const reader = new FrameReader(stream)
    const bytes = await reader.read(MAX_JOIN_REPLY_BYTES, JOIN_FRAME_TIMEOUT_MS, options.signal)
    if (bytes == null) throw new MalformedMessageError('the member closed the join stream without a reply')
    const reply = parseReply(bytes)
    await stream.close().catch(() => {})
    if (!reply.ok) throw new JoinRefusedError(reply.reason ?? 'no reason given')
    return reply
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

export interface JoinServiceComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
  logger: Logger
  /** handle an enrollment from the invite key `from`; never throws for bad input */
  onEnroll: (enroll: Uint8Array, from: string) => Promise<JoinReply>
  /** only invite keys may use this protocol */
  isInviteKey: (peerId: string) => boolean
}

/**
 * Serves `/cit/join/1.0.0`: a machine holding a join token connects under the token's invite key
 * and hands over its enrollment; the reply carries the trust records it needs to start.
 */
export class JoinService {
  private started = false
  private readonly controller = new AbortController()

  constructor (private readonly components: JoinServiceComponents) {}

  async start (): Promise<void> {
    if (this.started) return
    await this.components.libp2p.handle(JOIN_PROTOCOL, (stream, connection) => { void this.serve(stream, connection) }, { maxInboundStreams: 4 })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.controller.abort()
    await this.components.libp2p.unhandle(JOIN_PROTOCOL).catch(() => {})
  }

  /**
   * An invite key has nothing more to say once it has its answer: its connection is closed a
   * moment later (the reply's last bytes reach it first), and aborted if it does not close.
   */
  private hangUpLater (connection: Connection): void {
    const timer = setTimeout(() => {
      connection.close({ signal: AbortSignal.timeout(JOIN_FRAME_TIMEOUT_MS) }).catch(() => { connection.abort(new Error('join done')) })
    }, JOIN_HANGUP_GRACE_MS)
    timer.unref?.()
    this.controller.signal.addEventListener('abort', () => { clearTimeout(timer) }, { once: true })
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const log = this.components.logger
    try {
      if (!this.components.isInviteKey(from)) {
        log.warn('join refused: the peer is not an invite key', { peer: from })
        await writeFrame(stream, encodeCbor({ ok: false, reason: 'not-an-invite', records: [], addrs: [] }), this.controller.signal)
        await stream.close().catch(() => {})
        return
      }
      const reader = new FrameReader(stream)
      const enroll = await reader.read(MAX_JOIN_REQUEST_BYTES, JOIN_FRAME_TIMEOUT_MS, this.controller.signal)
      if (enroll == null) throw new MalformedMessageError('no enrollment sent')
      const reply = await this.components.onEnroll(enroll, from)
      await writeFrame(stream, encodeCbor({ ...reply, addrs: reply.addrs.slice(0, MAX_JOIN_ADDRS) }), this.controller.signal)
      await stream.close().catch(() => {})
      this.hangUpLater(connection)
    } catch (err: any) {
      log.warn('join session failed', { peer: from, code: err?.code, err: String(err?.message ?? err) })
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}
