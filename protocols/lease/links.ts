import { peerIdFromString } from '@libp2p/peer-id'
import { linkedSignal } from '../codec/signals.js'
import { FrameReader, writeFrame } from '../codec/frames.js'
import { silentLogger } from '../../store/logger.js'
import { IDLE_TIMEOUT_MS, KEEPALIVE_MS, LEASE_PROTOCOL, MAX_LEASE_MESSAGE_BYTES, OPEN_TIMEOUT_MS } from './constants.js'
import { LeaseAbortedError, LeaseNotStartedError, LeaseUnreachableError } from './errors.js'
import type { LeaseTransport } from './types.js'
import type { Logger } from '../../store/logger.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

export interface LeaseLinksComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>
  /** whether a peer may speak the lease protocol (a member) */
  isAllowed: (peer: string) => boolean
  logger?: Logger
}

export interface LeaseLinksInit {
  keepaliveMs?: number
  idleTimeoutMs?: number
}

const EMPTY = new Uint8Array(0)

/** one stream to one peer; both sides send requests and replies over it */
class Link {
  lastSend = Date.now()
  readonly controller = new AbortController()
  constructor (readonly peer: string, readonly stream: Stream, readonly initiator: string) {}

  async write (bytes: Uint8Array): Promise<void> {
    this.lastSend = Date.now()
    await writeFrame(this.stream, bytes, this.controller.signal)
  }
}

/**
 * The libp2p transport of lease messages (`/cit/lease/1.0.0`): one long-lived stream per pair of
 * members, opened by whichever needs it first, carrying length-prefixed signed envelopes both
 * ways. yamux does not enforce an idle timeout, so each link sends an empty frame after
 * `keepaliveMs` without traffic and is closed after `idleTimeoutMs` without any frame. When both
 * sides opened a stream at once, both keep the one the lower peer id opened.
 */
export class LeaseLinks implements LeaseTransport {
  private readonly c: LeaseLinksComponents
  private readonly log: Logger
  private readonly keepaliveMs: number
  private readonly idleTimeoutMs: number
  private readonly links = new Map<string, Link>()
  private readonly opening = new Map<string, Promise<Link>>()
  private readonly all = new Set<Link>()
  private readonly readers = new Set<Promise<void>>()
  private handler: (from: string, bytes: Uint8Array) => void = () => {}
  private controller?: AbortController
  private timer?: ReturnType<typeof setInterval>
  private self = ''

  constructor (components: LeaseLinksComponents, init: LeaseLinksInit = {}) {
    this.c = components
    this.log = components.logger ?? silentLogger
    this.keepaliveMs = init.keepaliveMs ?? KEEPALIVE_MS
    this.idleTimeoutMs = init.idleTimeoutMs ?? IDLE_TIMEOUT_MS
  }

  onMessage (handler: (from: string, bytes: Uint8Array) => void): void {
    this.handler = handler
  }

  async start (self: string): Promise<void> {
    if (this.controller != null) return
    this.self = self
    this.controller = new AbortController()
    await this.c.libp2p.handle(LEASE_PROTOCOL, (stream, connection) => { this.accept(stream, connection) }, { maxInboundStreams: 4, maxOutboundStreams: 4 })
    this.timer = setInterval(() => { this.keepalive() }, Math.max(100, Math.floor(this.keepaliveMs / 2)))
    this.timer.unref?.()
  }

  /** close every link and wait for their readers to end */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    this.controller = undefined
    clearInterval(this.timer)
    controller.abort(new LeaseAbortedError('the lease links stopped'))
    await this.c.libp2p.unhandle(LEASE_PROTOCOL).catch(() => {})
    for (const link of this.all) this.close(link)
    await Promise.allSettled([...this.readers])
  }

  /** links open now, by peer */
  peers (): string[] {
    return [...this.links.keys()]
  }

  async send (peer: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    const link = this.links.get(peer) ?? await this.open(peer, signal)
    try {
      await link.write(bytes)
    } catch (err) {
      this.close(link)
      throw new LeaseUnreachableError(`lease link to ${peer} failed`, { cause: err })
    }
  }

  private async open (peer: string, signal?: AbortSignal): Promise<Link> {
    const stop = this.controller?.signal
    if (stop == null) throw new LeaseNotStartedError()
    let p = this.opening.get(peer)
    if (p == null) {
      const deadline = linkedSignal([stop, signal], OPEN_TIMEOUT_MS)
      p = this.dial(peer, deadline.signal)
        .finally(() => { deadline.dispose(); this.opening.delete(peer) })
      this.opening.set(peer, p)
    }
    return await p
  }

  private async dial (peer: string, signal: AbortSignal): Promise<Link> {
    if (!this.c.isAllowed(peer)) throw new LeaseUnreachableError(`${peer} is not a member`)
    let stream: Stream
    try {
      stream = await this.c.libp2p.dialProtocol(peerIdFromString(peer), LEASE_PROTOCOL, { signal })
    } catch (err) {
      throw new LeaseUnreachableError(`cannot open a lease link to ${peer}`, { cause: err })
    }
    return this.adopt(peer, stream, this.self)
  }

  private accept (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (this.controller == null || !this.c.isAllowed(peer)) {
      stream.abort(new Error('not allowed'))
      return
    }
    this.adopt(peer, stream, peer)
  }

  /** start reading a new stream; it becomes the peer's link unless the one there wins the tie */
  private adopt (peer: string, stream: Stream, initiator: string): Link {
    const link = new Link(peer, stream, initiator)
    this.all.add(link)
    const current = this.links.get(peer)
    if (current == null || initiator < current.initiator) this.links.set(peer, link)
    const reading = this.read(link).finally(() => { this.readers.delete(reading) })
    this.readers.add(reading)
    return this.links.get(peer) ?? link
  }

  private async read (link: Link): Promise<void> {
    const reader = new FrameReader(link.stream)
    const stop = this.controller?.signal
    const signal = stop == null ? link.controller.signal : AbortSignal.any([stop, link.controller.signal])
    try {
      for (;;) {
        const frame = await reader.read(MAX_LEASE_MESSAGE_BYTES, this.idleTimeoutMs, signal)
        if (frame == null) break
        if (frame.byteLength === 0) continue
        this.handler(link.peer, frame)
      }
    } catch (err) {
      if (!signal.aborted) this.log.debug('lease link closed', { peer: link.peer, err })
    } finally {
      this.close(link)
    }
  }

  private close (link: Link): void {
    if (!this.all.delete(link)) return
    if (this.links.get(link.peer) === link) this.links.delete(link.peer)
    link.controller.abort()
    link.stream.close().catch(() => { link.stream.abort(new Error('lease link closed')) })
  }

  /** an empty frame on every link that has been quiet, so neither side's idle timeout fires */
  private keepalive (): void {
    const now = Date.now()
    for (const link of this.links.values()) {
      if (now - link.lastSend < this.keepaliveMs) continue
      link.write(EMPTY).catch(() => { this.close(link) })
    }
  }
}
