import {
  REDIAL_BACKOFF_MAX_MS, REDIAL_BACKOFF_MIN_MS, REDIAL_DIAL_TIMEOUT_MS, REDIAL_FORGET_AFTER_FAILURES,
  REDIAL_INTERVAL_MS, REDIAL_MAX_CONNECTED, REDIAL_MAX_PARALLEL, REDIAL_MAX_PEERS
} from './constants.js'
import { linkedSignal } from '../codec/signals.js'
import { silentLogger } from '../../store/logger.js'
import type { KnownPeer } from './addrs.js'
import type { IsAllowed } from './gater.js'
import type { Logger } from '../../store/logger.js'
import type { AbortOptions, Connection, Libp2pEvents, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The libp2p parts the redialer uses (a libp2p service receives them as its components). */
export interface RedialerComponents {
  connectionManager: {
    openConnection: (peer: PeerId | Multiaddr | Multiaddr[], options?: AbortOptions) => Promise<Connection>
    getConnections: (peerId?: PeerId) => Connection[]
  }
  events: TypedEventTarget<Libp2pEvents>
}

export interface RedialerInit {
  /** members to keep connected to whatever happens (the bootstrap list) */
  peers?: KnownPeer[]
  /** membership: peers that are not allowed are neither remembered nor dialed */
  isAllowed?: IsAllowed
  logger?: Logger
  intervalMs?: number
  backoffMinMs?: number
  backoffMaxMs?: number
  dialTimeoutMs?: number
  maxParallel?: number
  maxPeers?: number
  /** remembered members are redialed only while fewer members than this are connected */
  maxConnected?: number
  forgetAfterFailures?: number
  /** clock for backoff decisions (tests) */
  now?: () => number
}

interface Target {
  peerId: PeerId
  addrs: Multiaddr[]
  /** a bootstrap entry: never forgotten, dialed by its configured addresses */
  pinned: boolean
  failures: number
  notBefore: number
  lastSeen: number
}

export interface RedialerStats {
  targets: number
  dials: number
  failures: number
}

/**
 * Keeps the mesh healed. The bootstrap module dials its list once; after a peer restarts or a
 * link drops nothing dials again. Every interval this dials known members (the bootstrap list
 * and peers connected to earlier) that are not connected, a few at a time, each with its own
 * exponential backoff. Remembered peers that keep failing are forgotten; bootstrap peers are not.
 * Bootstrap peers are always redialed; remembered ones only while fewer than `maxConnected`
 * members are connected, so a large mesh costs each node a bounded number of connections.
 */
export class Redialer implements Startable {
  private readonly targets = new Map<string, Target>()
  private readonly dialing = new Set<string>()
  private readonly logger: Logger
  private readonly isAllowed: IsAllowed
  private readonly now: () => number
  private readonly init: Required<Omit<RedialerInit, 'peers' | 'isAllowed' | 'logger' | 'now'>>
  private controller?: AbortController
  private timer?: ReturnType<typeof setTimeout>
  private dials = 0
  private failures = 0

  constructor (private readonly components: RedialerComponents, init: RedialerInit = {}) {
    this.logger = init.logger ?? silentLogger
    this.isAllowed = init.isAllowed ?? (() => true)
    this.now = init.now ?? Date.now
    this.init = {
      intervalMs: init.intervalMs ?? REDIAL_INTERVAL_MS,
      backoffMinMs: init.backoffMinMs ?? REDIAL_BACKOFF_MIN_MS,
      backoffMaxMs: init.backoffMaxMs ?? REDIAL_BACKOFF_MAX_MS,
      dialTimeoutMs: init.dialTimeoutMs ?? REDIAL_DIAL_TIMEOUT_MS,
      maxParallel: init.maxParallel ?? REDIAL_MAX_PARALLEL,
      maxPeers: init.maxPeers ?? REDIAL_MAX_PEERS,
      maxConnected: init.maxConnected ?? REDIAL_MAX_CONNECTED,
      forgetAfterFailures: init.forgetAfterFailures ?? REDIAL_FORGET_AFTER_FAILURES
    }
    for (const peer of init.peers ?? []) {
      this.targets.set(peer.peerId.toString(), { ...peer, pinned: true, failures: 0, notBefore: 0, lastSeen: 0 })
    }
    this.onConnect = this.onConnect.bind(this)
  }

  readonly [Symbol.toStringTag] = 'cit:redialer'

  isStarted (): boolean { return this.controller != null }

  start (): void {
    if (this.controller != null) return
    this.controller = new AbortController()
    this.components.events.addEventListener('peer:connect', this.onConnect)
    this.schedule()
  }

  stop (): void {
    if (this.controller == null) return
    this.controller.abort()
    this.controller = undefined
    clearTimeout(this.timer)
    this.timer = undefined
    this.components.events.removeEventListener('peer:connect', this.onConnect)
  }

  stats (): RedialerStats {
    return { targets: this.targets.size, dials: this.dials, failures: this.failures }
  }

  /** peer ids the redialer keeps connected to */
  peers (): string[] {
    return [...this.targets.keys()]
  }

  /** one pass: start dials to due, disconnected members; resolves when those dials settle */
  async redialNow (): Promise<void> {
    const signal = this.controller?.signal
    if (signal == null) return
    const now = this.now()
    let room = this.init.maxConnected - this.connectedMembers() - this.dialing.size
    const due = [...this.targets.entries()]
      .filter(([id, t]) => !this.dialing.has(id) && t.notBefore <= now && this.allowed(id) && !this.connected(t.peerId))
      // bootstrap entries first, then the longest waiting
      .sort((a, b) => Number(b[1].pinned) - Number(a[1].pinned) || a[1].notBefore - b[1].notBefore)
      // a bootstrap entry takes a place too, but is dialed even when none is left
      .filter(([, t]) => room-- > 0 || t.pinned)
      .slice(0, Math.max(0, this.init.maxParallel - this.dialing.size))
    await Promise.all(due.map(async ([id, t]) => { await this.dial(id, t, signal) }))
  }

  private schedule (): void {
    if (this.controller == null) return
    this.timer = setTimeout(() => {
      // dials are not awaited here: a slow dial must not hold back the others' schedule
      this.redialNow().catch(err => { this.logger.warn('redial pass failed', { err: String(err) }) })
      this.schedule()
    }, this.init.intervalMs)
    this.timer.unref?.()
  }

  private async dial (id: string, target: Target, stopSignal: AbortSignal): Promise<void> {
    this.dialing.add(id)
    this.dials++
    // not AbortSignal.any: on Node.js 20 each one leaves a WeakRef on the stop signal for good (a dial every few seconds while a member is down)
    const deadline = linkedSignal([stopSignal], this.init.dialTimeoutMs)
    const signal = deadline.signal
    try {
      const to = target.pinned && target.addrs.length > 0 ? target.addrs : target.peerId
      await this.components.connectionManager.openConnection(to, { signal })
      target.failures = 0
      target.notBefore = 0
      this.logger.debug('redialed peer', { peer: id })
    } catch (err) {
      if (stopSignal.aborted) return
      this.failures++
      target.failures++
      const backoff = Math.min(this.init.backoffMaxMs, this.init.backoffMinMs * 2 ** (target.failures - 1))
      // jitter keeps a restarted mesh from redialing in lockstep
      target.notBefore = this.now() + Math.round(backoff * (0.8 + Math.random() * 0.4))
      this.logger.debug('redial failed', { peer: id, failures: target.failures, err: (err as Error).message })
      if (!target.pinned && target.failures >= this.init.forgetAfterFailures) this.targets.delete(id)
    } finally {
      deadline.dispose()
      this.dialing.delete(id)
    }
  }

  private onConnect (evt: CustomEvent<PeerId>): void {
    const peerId = evt.detail
    const id = peerId.toString()
    if (!this.allowed(id)) return
    const known = this.targets.get(id)
    if (known != null) {
      known.failures = 0
      known.notBefore = 0
      known.lastSeen = this.now()
      return
    }
    if (this.targets.size >= this.init.maxPeers) this.evictOldest()
    if (this.targets.size >= this.init.maxPeers) return
    // no addresses: a remembered peer is dialed by id, from what identify put in the peer store
    this.targets.set(id, { peerId, addrs: [], pinned: false, failures: 0, notBefore: 0, lastSeen: this.now() })
  }

  private evictOldest (): void {
    let oldest: [string, Target] | undefined
    for (const entry of this.targets) {
      if (entry[1].pinned) continue
      if (oldest == null || entry[1].lastSeen < oldest[1].lastSeen) oldest = entry
    }
    if (oldest != null) this.targets.delete(oldest[0])
  }

  private allowed (id: string): boolean {
    try { return this.isAllowed(id) } catch { return false }
  }

  /** members with an open connection, however it was opened */
  private connectedMembers (): number {
    const ids = new Set<string>()
    for (const c of this.components.connectionManager.getConnections()) {
      if (c.status === 'open') ids.add(c.remotePeer.toString())
    }
    let n = 0
    for (const id of ids) if (this.allowed(id)) n++
    return n
  }

  private connected (peerId: PeerId): boolean {
    return this.components.connectionManager.getConnections(peerId).some(c => c.status === 'open')
  }
}

/** the redialer as a libp2p service (`services: { redialer: redialer(init) }`) */
export function redialer (init: RedialerInit = {}): (components: RedialerComponents) => Redialer {
  return (components) => new Redialer(components, init)
}
