import {
  FETCH_FRAME_TIMEOUT_MS, FETCH_MAX_CONCURRENT_REQUESTS, FETCH_MAX_INBOUND_STREAMS_PER_CONNECTION, FETCH_MAX_OUTBOUND_STREAMS_PER_CONNECTION,
  FETCH_BULK_PROTOCOL, FETCH_MAX_WINDOW_BYTES, FETCH_PROTOCOL, FETCH_REQUEST_TIMEOUT_MS
} from './constants.js'
import { linkedSignal } from '../codec/signals.js'
import { serveBulkRequest } from './bulk-handler.js'
import { BulkServer } from './bulk-server.js'
import { FetchAbortedError, FetchTimeoutError, InvalidFetchArgumentError } from './errors.js'
import { FetchRefusedError, serveRequest } from './server.js'
import { RateLimitedLog } from '../net/log-limit.js'
import { errorCode } from '../sync/stats.js'
import { silentLogger } from '../../store/logger.js'
import type { FetchErrorCode } from './messages.js'
import type { ServeContext, ServeLimits } from './server.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

export interface FetchServiceComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
  /** where served blobs are read from; ranged reads are not verified (clients verify the whole) */
  blobs: Pick<BlobStore, 'stat' | 'get' | 'pathOf'>
  logger?: Logger
  /** the `read` role check: a peer for which this is false gets ERR_NOT_ALLOWED and nothing else */
  isAllowed: (peerId: string) => boolean
}

export interface FetchServiceInit {
  /** wait for a request, for credit, or for the stream to drain */
  frameTimeoutMs?: number
  /** one request at most */
  requestTimeoutMs?: number
  /** outstanding credit a client may grant */
  maxWindowBytes?: number
  /** requests served at once over all peers; more get ERR_BUSY */
  maxConcurrentRequests?: number
  /** inbound fetch streams per connection */
  maxInboundStreams?: number
  /**
   * Serve the bulk channel (`/cit/fetch-bulk/1.0.0`: tickets over libp2p, the bytes over plain
   * TCP in AES-256-GCM records) on this address, on a port the system picks; off when absent.
   */
  bulkHost?: string
}

export interface FetchServiceStats {
  /** requests answered with data to the end */
  served: number
  /** bytes of blob data handed to streams */
  bytesServed: number
  /** requests from peers without the read role */
  refused: number
  /** requests turned away because too many were in flight */
  busy: number
  /** failed requests by code (refusals such as ERR_NOT_FOUND included) */
  errors: Record<string, number>
}

/**
 * Serves blob ranges on `/cit/fetch/1.0.0` to peers with the read role: one request per stream,
 * a reply header, then the bytes, paced by the client's credit. See docs/protocols/fetch.md.
 */
export class FetchService {
  private readonly logger: Logger
  private readonly warn: RateLimitedLog
  private readonly init: Required<Omit<FetchServiceInit, 'bulkHost'>>
  private readonly bulk?: BulkServer
  private readonly limits: ServeLimits
  private readonly inflight = new Set<Promise<void>>()
  private readonly errors = new Map<string, number>()
  private counters = { served: 0, bytesServed: 0, refused: 0, busy: 0 }
  private controller?: AbortController

  constructor (private readonly components: FetchServiceComponents, init: FetchServiceInit = {}) {
    if (typeof components?.isAllowed !== 'function') throw new InvalidFetchArgumentError('FetchService: isAllowed must be a function (peerId) => boolean')
    this.logger = components.logger ?? silentLogger
    this.warn = new RateLimitedLog(this.logger)
    this.init = {
      frameTimeoutMs: init.frameTimeoutMs ?? FETCH_FRAME_TIMEOUT_MS,
      requestTimeoutMs: init.requestTimeoutMs ?? FETCH_REQUEST_TIMEOUT_MS,
      maxWindowBytes: init.maxWindowBytes ?? FETCH_MAX_WINDOW_BYTES,
      maxConcurrentRequests: init.maxConcurrentRequests ?? FETCH_MAX_CONCURRENT_REQUESTS,
      maxInboundStreams: init.maxInboundStreams ?? FETCH_MAX_INBOUND_STREAMS_PER_CONNECTION
    }
    for (const [key, value] of Object.entries(this.init)) {
      if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidFetchArgumentError(`FetchService: ${key} must be a positive integer, got ${String(value)}`)
    }
    this.limits = { frameTimeoutMs: this.init.frameTimeoutMs, maxWindowBytes: this.init.maxWindowBytes }
    if (init.bulkHost != null) {
      this.bulk = new BulkServer({
        blobs: components.blobs,
        logger: this.logger,
        onBytes: (n) => { this.counters.bytesServed += n },
        onServed: () => { this.counters.served++ }
      }, { host: init.bulkHost, writeTimeoutMs: this.init.frameTimeoutMs })
    }
    this.handle = this.handle.bind(this)
    this.handleBulk = this.handleBulk.bind(this)
  }

  isStarted (): boolean { return this.controller != null }

  async start (): Promise<void> {
    if (this.controller != null) return
    await this.components.libp2p.handle(FETCH_PROTOCOL, this.handle, {
      maxInboundStreams: this.init.maxInboundStreams,
      maxOutboundStreams: FETCH_MAX_OUTBOUND_STREAMS_PER_CONNECTION
    })
    if (this.bulk != null) {
      try {
        await this.bulk.start()
        await this.components.libp2p.handle(FETCH_BULK_PROTOCOL, this.handleBulk, {
          maxInboundStreams: this.init.maxInboundStreams,
          maxOutboundStreams: FETCH_MAX_OUTBOUND_STREAMS_PER_CONNECTION
        })
      } catch (err) {
        // a start that fails part-way undoes what started
        await this.bulk.stop().catch(() => {})
        await this.components.libp2p.unhandle(FETCH_PROTOCOL).catch(() => {})
        throw err
      }
    }
    this.controller = new AbortController()
  }

  /** the bulk channel's TCP port (undefined when it is off or not started) */
  get bulkPort (): number | undefined {
    return this.bulk != null && this.bulk.port > 0 ? this.bulk.port : undefined
  }

  /** stop serving: requests in flight are cut off (their streams reset) and awaited */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    this.controller = undefined
    controller.abort(new FetchAbortedError('the fetch service stopped'))
    await this.components.libp2p.unhandle(FETCH_PROTOCOL).catch(() => {})
    if (this.bulk != null) await this.components.libp2p.unhandle(FETCH_BULK_PROTOCOL).catch(() => {})
    await this.bulk?.stop()
    await Promise.allSettled([...this.inflight])
  }

  /**
   * cut `peer` off the bulk channel: its outstanding tickets are dropped and its transfers under
   * way closed (for a peer whose read role was revoked); returns how many transfers were cut
   */
  cut (peer: string): number {
    return this.bulk?.cut(peer) ?? 0
  }

  /** cut off the bulk channel every peer that may no longer fetch (call when roles change); returns how many transfers were cut */
  recheck (): number {
    let n = 0
    for (const peer of this.bulk?.peers() ?? []) if (!this.allowed(peer)) n += this.cut(peer)
    return n
  }

  stats (): FetchServiceStats {
    return { ...this.counters, errors: Object.fromEntries(this.errors) }
  }

  private handle (stream: Stream, connection: Connection): void {
    this.track(stream, connection, async (ctx) => {
      const { bytes } = await serveRequest(stream, ctx)
      this.counters.served++
      this.logger.debug('served fetch request', { peer: connection.remotePeer.toString(), bytes })
    })
  }

  /** a bulk request: a ticket for the range, redeemed on the bulk server's TCP port */
  private handleBulk (stream: Stream, connection: Connection): void {
    const bulk = this.bulk
    this.track(stream, connection, async (ctx) => {
      if (bulk == null) throw new FetchAbortedError('the bulk channel is off')
      await serveBulkRequest(stream, bulk, remoteHostOf(connection), ctx, connection.remotePeer.toString())
    })
  }

  /** one request's common part: the role and load checks, its deadline, its accounting */
  private track (stream: Stream, connection: Connection, serve: (ctx: ServeContext) => Promise<void>): void {
    const stop = this.controller?.signal
    if (stop == null) {
      stream.abort(new FetchAbortedError('the fetch service is not running'))
      return
    }
    const peer = connection.remotePeer.toString()
    // not AbortSignal.any: on Node.js 20 each one leaves a WeakRef on the service's signal for good
    const link = linkedSignal([stop], { ms: this.init.requestTimeoutMs, reason: () => new FetchTimeoutError('the fetch request ran out of time') })
    const signal = link.signal
    let refusal: FetchErrorCode | undefined
    if (!this.allowed(peer)) {
      refusal = 'ERR_NOT_ALLOWED'
      this.counters.refused++
      this.warn.log('info', `refused:${peer}`, 'fetch refused: peer lacks the read role', { peer })
    } else if (this.inflight.size >= this.init.maxConcurrentRequests) {
      refusal = 'ERR_BUSY'
      this.counters.busy++
    }
    const ctx: ServeContext = {
      blobs: this.components.blobs,
      limits: this.limits,
      signal,
      refusal,
      onBytes: (n) => { this.counters.bytesServed += n }
    }
    const tracked = this.answer(stream, peer, async () => { await serve(ctx) }).finally(() => {
      link.dispose()
      this.inflight.delete(tracked)
    })
    this.inflight.add(tracked)
  }

  /**
   * Run one request's work. A failure is counted and logged (rate-limited); unless the peer was
   * answered with an error reply, the stream is reset. A stream we closed cleanly is reset later
   * if the peer never closes its side, so a silent client cannot pin it open.
   */
  private async answer (stream: Stream, peer: string, work: () => Promise<void>): Promise<void> {
    try {
      await work()
    } catch (err) {
      const code = errorCode(err)
      this.errors.set(code, (this.errors.get(code) ?? 0) + 1)
      const level = code === 'ERR_INTERNAL' ? 'error' : 'debug'
      this.warn.log(level, `serve:${code}:${peer}`, 'fetch request failed', { peer, code, err: String(err), cause: String((err as Error)?.cause ?? '') })
      if (!(err instanceof FetchRefusedError)) {
        stream.abort(err instanceof Error ? err : new Error(code))
        return
      }
    }
    resetIfLeftOpen(stream, this.init.frameTimeoutMs)
  }

  private allowed (peer: string): boolean {
    try { return this.components.isAllowed(peer) } catch { return false }
  }
}

/** reset `stream` if the peer has not closed its side within `ms` (the timer does not hold the process) */
function resetIfLeftOpen (stream: Stream, ms: number): void {
  if (stream.status !== 'open' && stream.status !== 'closing') return
  const timer = setTimeout(() => { stream.abort(new FetchTimeoutError('the peer did not close the fetch stream')) }, ms)
  timer.unref()
  stream.addEventListener('close', () => { clearTimeout(timer) }, { once: true })
}

/** the IP address a connection came from, when its address has one */
function remoteHostOf (connection: Connection): string | undefined {
  for (const c of connection.remoteAddr.getComponents()) {
    if (c.name === 'ip4' || c.name === 'ip6') return c.value
  }
  return undefined
}
