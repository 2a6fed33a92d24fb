import { CONNECTION_PING_INTERVAL_MS, CONNECTION_PING_MIN_TIMEOUT_MS } from './constants.js'
import { linkedSignal } from '../codec/signals.js'
import { silentLogger } from '../../store/logger.js'
import type { Logger } from '../../store/logger.js'
import type { AbortOptions, Connection, PeerId, Startable } from '@libp2p/interface'

/** how many times an interval the connections are looked at */
const CHECKS_PER_INTERVAL = 6

/** The libp2p parts the monitor uses (a libp2p service receives them as its components; `ping` is the ping service). */
export interface QuietMonitorComponents {
  connectionManager: { getConnections: (peerId?: PeerId) => Connection[] }
  ping: { ping: (peer: PeerId, options?: AbortOptions) => Promise<number> }
}

export interface QuietMonitorInit {
  /** how often connections are looked at; one that received nothing for this long is pinged */
  intervalMs?: number
  /** a ping not answered within this is a dead connection */
  timeoutMs?: number
  /** when `conn` last received bytes, if known (unknown: it is pinged at every interval) */
  lastReceivedAt?: (conn: Connection) => number | undefined
  logger?: Logger
  now?: () => number
}

export interface QuietMonitorStats {
  /** pings sent (one per quiet peer and interval) */
  pings: number
  /** connections left alone at an interval because they had received something within it */
  skipped: number
  /** connections closed because their peer did not answer a ping */
  closed: number
}

/**
 * Finds dead connections: each open connection that received nothing for an interval is pinged (`/cit/ping/1.0.0`), and closed if the ping fails or is not answered
 * within the timeout. libp2p's own connection monitor pings every connection at every interval,
 * from both ends; in a mesh whose members report their load to each other, every connection
 * carries a report from its peer at least every interval, so those pings were pure cost — a new
 * stream, a protocol negotiation and a peer-store write at each end, for each connection: the
 * largest part of an idle node's CPU once its load reports went out directly (see protocols/gossip.md),
 * and it grew with the number of connections. Bytes received prove the peer alive as well as a pong.
 */
export class QuietMonitor implements Startable {
  private readonly logger: Logger
  private readonly now: () => number
  private readonly intervalMs: number
  private readonly timeoutMs: number
  private readonly lastReceivedAt: (conn: Connection) => number | undefined
  private controller?: AbortController
  private timer?: ReturnType<typeof setInterval>
  private readonly counts: QuietMonitorStats = { pings: 0, skipped: 0, closed: 0 }
  /** peers with a ping out */
  private readonly pinging = new Set<string>()

  constructor (private readonly components: QuietMonitorComponents, init: QuietMonitorInit = {}) {
    this.logger = init.logger ?? silentLogger
    this.now = init.now ?? Date.now
    this.intervalMs = init.intervalMs ?? CONNECTION_PING_INTERVAL_MS
    this.timeoutMs = init.timeoutMs ?? CONNECTION_PING_MIN_TIMEOUT_MS
    this.lastReceivedAt = init.lastReceivedAt ?? (() => undefined)
  }

  readonly [Symbol.toStringTag] = 'cit:quiet-monitor'

  isStarted (): boolean { return this.controller != null }

  start (): void {
    if (this.controller != null) return
    this.controller = new AbortController()
    // looked at six times an interval, so a connection is pinged at most a sixth of an interval
    // after it went quiet (a dead one is closed within an interval, a sixth and the timeout)
    this.timer = setInterval(() => {
      this.checkNow().catch(err => { this.logger.warn('connection check failed', { err: String(err) }) })
    }, Math.max(1, Math.round(this.intervalMs / CHECKS_PER_INTERVAL)))
    this.timer.unref?.()
  }

  stop (): void {
    if (this.controller == null) return
    this.controller.abort()
    this.controller = undefined
    clearInterval(this.timer)
    this.timer = undefined
  }

  stats (): QuietMonitorStats {
    return { ...this.counts }
  }

  /** one pass: ping the peers of the connections that have been quiet; resolves when those pings settle */
  async checkNow (): Promise<void> {
    const stopSignal = this.controller?.signal
    if (stopSignal == null) return
    const now = this.now()
    const quiet = new Map<string, Connection[]>()
    for (const conn of this.components.connectionManager.getConnections()) {
      if (conn.status !== 'open') continue
      const at = this.lastReceivedAt(conn)
      if (at != null && now - at < this.intervalMs) {
        this.counts.skipped++
        continue
      }
      const id = conn.remotePeer.toString()
      if (this.pinging.has(id)) continue
      quiet.set(id, [...(quiet.get(id) ?? []), conn])
    }
    await Promise.all([...quiet].map(async ([id, conns]) => { await this.ping(id, conns, stopSignal) }))
  }

  private async ping (id: string, conns: Connection[], stopSignal: AbortSignal): Promise<void> {
    const peer = conns[0].remotePeer
    this.pinging.add(id)
    this.counts.pings++
    const deadline = linkedSignal([stopSignal], this.timeoutMs)
    try {
      const rtt = await this.components.ping.ping(peer, { signal: deadline.signal })
      for (const conn of conns) conn.rtt = rtt
    } catch (err) {
      if (stopSignal.aborted) return
      this.logger.debug('closing a connection whose peer did not answer a ping', { peer: peer.toString(), err: String(err) })
      for (const conn of conns) {
        if (conn.status !== 'open') continue
        this.counts.closed++
        conn.abort(new Error('the peer did not answer a ping'))
      }
    } finally {
      this.pinging.delete(id)
      deadline.dispose()
    }
  }
}

/** the monitor as a libp2p service (`services: { monitor: quietMonitor(init) }`, beside a `ping` service) */
export function quietMonitor (init: QuietMonitorInit = {}): (components: QuietMonitorComponents) => QuietMonitor {
  return (components) => new QuietMonitor(components, init)
}
