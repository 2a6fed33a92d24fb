import { pullSession } from './client.js'
import {
  SYNC_FRAME_TIMEOUT_MS, SYNC_MAX_INBOUND_STREAMS, SYNC_MAX_ITEM_BYTES, SYNC_MAX_PAGE_BYTES, SYNC_MAX_PAGE_ITEMS,
  SYNC_MAX_PAGES_PER_SESSION, SYNC_MAX_REQUEST_BYTES, SYNC_MAX_RESPONSE_BYTES, SYNC_MAX_SESSIONS_PER_SYNC,
  SYNC_PROTOCOL, SYNC_SESSION_TIMEOUT_MS
} from './constants.js'
import { PeerNotAllowedError, SyncAbortedError, SyncTimeoutError } from './errors.js'
import { serveSession } from './server.js'
import { SyncCounters } from './stats.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { linkedSignal } from '../codec/signals.js'
import { RateLimitedLog } from '../net/log-limit.js'
import { silentLogger } from '../../store/logger.js'
import type { ServeLimits } from './server.js'
import type { Ingest, RecordLog, SyncMarks, SyncResult, SyncStats } from './types.js'
import type { IsAllowed } from '../net/gater.js'
import type { Logger } from '../../store/logger.js'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'

export interface SyncServiceComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'addEventListener' | 'removeEventListener'>
  /** this node's record log, served to peers */
  log: RecordLog
  ingest: Ingest
  marks: SyncMarks
  /** membership: only members are served and pulled from */
  isAllowed: IsAllowed
  logger?: Logger
}

export interface SyncServiceInit {
  pageItems?: number
  maxPageBytes?: number
  frameTimeoutMs?: number
  sessionTimeoutMs?: number
  maxPagesPerSession?: number
  maxSessionsPerSync?: number
  maxInboundStreams?: number
  /** pull from every allowed peer when a connection to it opens (default true) */
  syncOnConnect?: boolean
}

interface Running {
  promise: Promise<SyncResult>
  /** a new connection arrived while this ran: pull once more when done */
  again: boolean
}

/**
 * Exchange what the other is missing when peers connect: serves this node's record log on
 * `/cit/sync/1.0.0` and pulls every allowed peer's log from the stored mark onwards on each new
 * connection, one session per peer at a time.
 */
export class SyncService {
  private readonly running = new Map<string, Running>()
  private readonly inbound = new Set<Promise<void>>()
  private readonly counters = new SyncCounters()
  private readonly logger: Logger
  private readonly warn: RateLimitedLog
  private readonly serveLimits: ServeLimits
  private readonly init: Required<SyncServiceInit>
  private controller?: AbortController

  constructor (private readonly components: SyncServiceComponents, init: SyncServiceInit = {}) {
    this.logger = components.logger ?? silentLogger
    this.warn = new RateLimitedLog(this.logger)
    this.init = {
      pageItems: Math.min(init.pageItems ?? SYNC_MAX_PAGE_ITEMS, SYNC_MAX_PAGE_ITEMS),
      maxPageBytes: Math.min(init.maxPageBytes ?? SYNC_MAX_PAGE_BYTES, SYNC_MAX_PAGE_BYTES),
      frameTimeoutMs: init.frameTimeoutMs ?? SYNC_FRAME_TIMEOUT_MS,
      sessionTimeoutMs: init.sessionTimeoutMs ?? SYNC_SESSION_TIMEOUT_MS,
      maxPagesPerSession: init.maxPagesPerSession ?? SYNC_MAX_PAGES_PER_SESSION,
      maxSessionsPerSync: init.maxSessionsPerSync ?? SYNC_MAX_SESSIONS_PER_SYNC,
      maxInboundStreams: init.maxInboundStreams ?? SYNC_MAX_INBOUND_STREAMS,
      syncOnConnect: init.syncOnConnect ?? true
    }
    for (const [key, value] of Object.entries(this.init)) {
      if (typeof value === 'number' && (!Number.isSafeInteger(value) || value <= 0)) throw new TypeError(`sync: ${key} must be a positive integer`)
    }
    this.serveLimits = {
      maxPageItems: this.init.pageItems,
      maxPageBytes: this.init.maxPageBytes,
      maxItemBytes: SYNC_MAX_ITEM_BYTES,
      maxRequestBytes: SYNC_MAX_REQUEST_BYTES,
      frameTimeoutMs: this.init.frameTimeoutMs,
      maxPages: this.init.maxPagesPerSession
    }
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
    this.handle = this.handle.bind(this)
  }

  isStarted (): boolean { return this.controller != null }

  async start (): Promise<void> {
    if (this.controller != null) return
    await this.components.libp2p.handle(SYNC_PROTOCOL, this.handle, {
      maxInboundStreams: this.init.maxInboundStreams,
      maxOutboundStreams: this.init.maxInboundStreams
    })
    this.controller = new AbortController()
    if (this.init.syncOnConnect) this.components.libp2p.addEventListener('connection:open', this.onConnectionOpen)
  }

  /** stop serving and pulling; in-flight sessions are cancelled and awaited */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    this.controller = undefined
    this.components.libp2p.removeEventListener('connection:open', this.onConnectionOpen)
    controller.abort(new SyncAbortedError())
    await this.components.libp2p.unhandle(SYNC_PROTOCOL).catch(() => {})
    await Promise.allSettled([...this.running.values()].map(r => r.promise))
    await Promise.allSettled([...this.inbound])
  }

  stats (): SyncStats {
    return this.counters.snapshot()
  }

  /**
   * Pull everything after the stored mark from `peer` now. If a sync with that peer is running,
   * this joins it (and makes it pull once more at the end, to see what arrived meanwhile).
   * Rejects with the session's typed error; ERR_NOT_ALLOWED for a non-member.
   */
  async syncNow (peer: string | PeerId, options: { signal?: AbortSignal } = {}): Promise<SyncResult> {
    const peerId = typeof peer === 'string' ? peerIdFromString(peer) : peer
    const id = peerId.toString()
    const running = this.running.get(id)
    if (running != null) {
      running.again = true
      return await running.promise
    }
    const entry: Running = { promise: Promise.resolve({ pages: 0, items: 0, more: false }), again: false }
    entry.promise = this.pullRepeatedly(peerId, entry, options.signal).finally(() => { this.running.delete(id) })
    this.running.set(id, entry)
    return await entry.promise
  }

  private async pullRepeatedly (peerId: PeerId, entry: Running, signal?: AbortSignal): Promise<SyncResult> {
    const total: SyncResult = { pages: 0, items: 0, more: false }
    let sessions = 0
    do {
      entry.again = false
      const result = await this.pullOnce(peerId, signal)
      total.pages += result.pages
      total.items += result.items
      total.more = result.more
      sessions++
    } while ((entry.again || total.more) && sessions < this.init.maxSessionsPerSync && this.controller != null)
    return total
  }

  private async pullOnce (peerId: PeerId, callerSignal?: AbortSignal): Promise<SyncResult> {
    const peer = peerId.toString()
    const stop = this.controller?.signal
    if (stop == null) throw new SyncAbortedError()
    if (!this.allowed(peer)) throw new PeerNotAllowedError(peer)
    const session = this.sessionSignal(stop, callerSignal)
    let stream: Stream | undefined
    try {
      stream = await this.components.libp2p.dialProtocol(peerId, SYNC_PROTOCOL, { signal: session.signal })
      const result = await pullSession(stream, {
        peer,
        mark: await this.components.marks.get(peer),
        ingest: this.components.ingest,
        saveMark: async (mark) => { await this.components.marks.set(peer, mark) },
        onPage: (items) => { this.counters.page('pulled', items) },
        limits: {
          pageItems: this.init.pageItems,
          maxResponseBytes: SYNC_MAX_RESPONSE_BYTES,
          frameTimeoutMs: this.init.frameTimeoutMs,
          maxPages: this.init.maxPagesPerSession
        },
        signal: session.signal
      })
      this.counters.session('pulled')
      this.logger.debug('pulled from peer', { peer, ...result })
      return result
    } catch (err) {
      const code = this.counters.error('pulled', err)
      stream?.abort(err instanceof Error ? err : new Error(code))
      this.warn.log('warn', `pull:${code}:${peer}`, 'sync from peer failed', { peer, code, err: String(err) })
      throw err
    } finally {
      session.clear()
    }
  }

  private handle (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    const stop = this.controller?.signal
    if (stop == null || !this.allowed(peer)) {
      if (stop != null) this.counters.refused++
      stream.abort(new PeerNotAllowedError(peer))
      return
    }
    const session = this.sessionSignal(stop)
    const done = serveSession(stream, this.components.log, this.serveLimits, session.signal, (seq, size) => {
      this.warn.log('warn', 'skip', 'record too large to sync, skipped', { seq, size })
    }).then((result) => {
      this.counters.session('served')
      this.counters.page('served', result.items, result.pages)
    }, (err: unknown) => {
      const code = this.counters.error('served', err)
      // the peer is cut off from this session: a reset, not a graceful close
      stream.abort(err instanceof Error ? err : new Error(code))
      this.warn.log('warn', `serve:${code}:${peer}`, 'sync session with peer failed', { peer, code, err: String(err) })
    }).finally(() => {
      session.clear()
      this.inbound.delete(done)
    })
    this.inbound.add(done)
  }

  private onConnectionOpen (evt: CustomEvent<Connection>): void {
    const conn = evt.detail
    const peer = conn.remotePeer.toString()
    // limited (relayed) connections are not for bulk transfer
    if (conn.limits != null || !this.allowed(peer)) return
    this.syncNow(conn.remotePeer).catch(() => {
      // counted and logged in pullOnce; the next connection tries again from the mark
    })
  }

  /** a signal for one session: the service stopping, the caller's signal, or the session deadline */
  private sessionSignal (stop: AbortSignal, caller?: AbortSignal): { signal: AbortSignal, clear: () => void } {
    // not AbortSignal.any: on Node.js 20 each one leaves a WeakRef on the service's signal for good
    const link = linkedSignal([stop, caller], { ms: this.init.sessionTimeoutMs, reason: () => new SyncTimeoutError('sync session ran out of time') })
    return { signal: link.signal, clear: link.dispose }
  }

  private allowed (peer: string): boolean {
    try { return this.components.isAllowed(peer) } catch { return false }
  }
}
