import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { ProtocolError } from '../codec/errors.js'
import { RateLimitedLog } from '../net/log-limit.js'
import { parseHash } from '../../store/blobs/hash.js'
import { silentLogger } from '../../store/logger.js'
import {
  PROVIDE_ANNOUNCE_CONCURRENCY, PROVIDE_BATCH_MAX_WAIT_MS, PROVIDE_FIND_TIMEOUT_MS, PROVIDE_MAX_HOLDERS, PROVIDE_QUIET_MS,
  PROVIDE_REANNOUNCE_INTERVAL_MS, PROVIDE_RETRY_INTERVAL_MS, PROVIDE_TIMEOUT_MS
} from './constants.js'
import { abortReason } from '../codec/frames.js'
import { linkedSignal } from '../codec/signals.js'
import { FETCH_ERRORS, FetchTimeoutError, InvalidFetchArgumentError } from './errors.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'
import type { PeerId, PeerStore } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

/** multicodec of raw bytes: a blob is not interpreted */
const RAW_CODEC = 0x55
/** multihash code of sha2-256 */
const SHA2_256 = 0x12

/** the CID a blob is announced under: CIDv1, raw, sha2-256 of its bytes (the blob's name) */
export function cidOfHash (hash: string): CID {
  return CID.createV1(RAW_CODEC, createDigest(SHA2_256, Buffer.from(parseHash(hash), 'hex')))
}

export interface ProvidersComponents {
  libp2p: {
    peerId: PeerId
    /** a round is put off while this node has no connections: nobody would store the records */
    getConnections: () => unknown[]
    services: { dht: Pick<KadDHT, 'provide' | 'findProviders' | 'cancelReprovide'> }
    /** holders' addresses found with their records are remembered here so they can be dialed */
    peerStore?: Pick<PeerStore, 'merge'>
  }
  /** the blobs this node holds and announces */
  blobs: Pick<BlobStore, 'list'>
  logger?: Logger
}

export interface ProvidersInit {
  /** announce every held blob this often (default PROVIDE_REANNOUNCE_INTERVAL_MS) */
  reannounceIntervalMs?: number
  /** retry a round that reached nobody or had failures this soon (default PROVIDE_RETRY_INTERVAL_MS) */
  retryIntervalMs?: number
  /** one announcement at most */
  provideTimeoutMs?: number
  /** one search for holders at most */
  findTimeoutMs?: number
  /** holders a search returns at most */
  maxHolders?: number
  /** announcements in flight during a round */
  announceConcurrency?: number
  /** blobs queued with `announceSoon` go out once none was queued for this long */
  quietMs?: number
  /** ... or at the latest this long after the oldest was queued */
  batchMaxWaitMs?: number
}

export interface ProvidersStats {
  /** DHT provide operations started (each a closest-peers lookup and an ADD_PROVIDER to each) */
  provides: number
  /** blobs queued with `announceSoon`, not announced yet */
  pending: number
  /** batches of queued blobs sent */
  batches: number
}

/** the DHT could not store a provider record for this blob */
export class ProvideFailedError extends ProtocolError {
  constructor (hash: string, options: { cause: unknown }) {
    super('ERR_PROVIDE_FAILED', `could not announce blob ${hash}`, options)
    this.name = 'ProvideFailedError'
  }
}

/**
 * Who holds which blob, through the mesh's DHT: announces the blobs this node holds (provider
 * records under `cidOfHash`), announces them all again every `reannounceIntervalMs` — well before
 * peers drop records (48 h) and so that members who joined since learn them — and finds holders.
 * A round that reached nobody (no connections) or had failures is retried after `retryIntervalMs`.
 * Blobs queued with `announceSoon` are announced together once the node has queued none for
 * `quietMs` (at the latest `batchMaxWaitMs` after the first), instead of one DHT round each at once.
 */
export class Providers {
  private readonly init: Required<ProvidersInit>
  private readonly logger: Logger
  private readonly warn: RateLimitedLog
  private controller?: AbortController
  private timer?: ReturnType<typeof setTimeout>
  private round?: Promise<unknown>
  /** when each blob was last announced with success: a round skips those announced since the last one */
  private readonly announcedAt = new Map<string, number>()
  /** blobs queued by `announceSoon`, and when the oldest of them was queued */
  private readonly pending = new Set<string>()
  private pendingSince = 0
  private batchTimer?: ReturnType<typeof setTimeout>
  private batch?: Promise<unknown>
  private counters = { provides: 0, batches: 0 }

  constructor (private readonly components: ProvidersComponents, init: ProvidersInit = {}) {
    this.init = {
      reannounceIntervalMs: init.reannounceIntervalMs ?? PROVIDE_REANNOUNCE_INTERVAL_MS,
      retryIntervalMs: init.retryIntervalMs ?? PROVIDE_RETRY_INTERVAL_MS,
      provideTimeoutMs: init.provideTimeoutMs ?? PROVIDE_TIMEOUT_MS,
      findTimeoutMs: init.findTimeoutMs ?? PROVIDE_FIND_TIMEOUT_MS,
      maxHolders: init.maxHolders ?? PROVIDE_MAX_HOLDERS,
      announceConcurrency: init.announceConcurrency ?? PROVIDE_ANNOUNCE_CONCURRENCY,
      quietMs: init.quietMs ?? PROVIDE_QUIET_MS,
      batchMaxWaitMs: init.batchMaxWaitMs ?? PROVIDE_BATCH_MAX_WAIT_MS
    }
    for (const [key, value] of Object.entries(this.init)) {
      if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidFetchArgumentError(`Providers: ${key} must be a positive integer, got ${String(value)}`)
    }
    this.logger = components.logger ?? silentLogger
    this.warn = new RateLimitedLog(this.logger)
  }

  isStarted (): boolean { return this.controller != null }

  /** start announcing: a round over every held blob now, then one every interval */
  async start (): Promise<void> {
    if (this.controller != null) return
    this.controller = new AbortController()
    this.schedule(0)
  }

  /** stop the rounds; a round in flight is cancelled and awaited */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    this.controller = undefined
    clearTimeout(this.timer)
    clearTimeout(this.batchTimer)
    this.batchTimer = undefined
    controller.abort()
    await this.round?.catch(() => {})
    await this.batch?.catch(() => {})
  }

  stats (): ProvidersStats {
    return { ...this.counters, pending: this.pending.size }
  }

  /**
   * Queue blobs to announce with the next batch: once nothing was queued for `quietMs`, or
   * `batchMaxWaitMs` after the oldest queued blob, whichever comes first. Blobs announced within
   * the last half interval are not announced again. Only while started; failures are retried
   * after `retryIntervalMs` (and the periodic round covers every held blob anyway).
   */
  announceSoon (hashes: Iterable<string>): void {
    if (this.controller == null) return
    for (const hash of hashes) {
      const h = parseHash(hash)
      if (this.isFresh(h, Date.now())) continue
      if (this.pending.size === 0) this.pendingSince = Date.now()
      this.pending.add(h)
    }
    if (this.pending.size > 0 && this.batch == null) this.armBatch(this.init.quietMs)
  }

  /** announce the queued blobs now (what the batch timer does); resolves with the counts */
  async flush (options: { signal?: AbortSignal } = {}): Promise<{ announced: number, failed: number, skipped: number }> {
    clearTimeout(this.batchTimer)
    this.batchTimer = undefined
    const hashes = [...this.pending]
    this.pending.clear()
    this.counters.batches++
    const counts = await this.announceMany(hashes, options, true)
    this.logger.debug('announced a batch of blobs', counts)
    return counts
  }

  /** announce one blob now (call it when a blob is stored). ERR_PROVIDE_FAILED, ERR_TIMEOUT, ERR_ABORTED */
  async announce (hash: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const h = parseHash(hash)
    const { signal, clear } = this.bounded(this.init.provideTimeoutMs, 'announcing the blob took too long', options.signal)
    this.counters.provides++
    try {
      for await (const event of this.components.libp2p.services.dht.provide(cidOfHash(h), { signal })) void event
      this.announcedAt.set(h, Date.now())
    } catch (err) {
      if (signal.aborted) throw abortReason(signal, FETCH_ERRORS.aborted)
      throw new ProvideFailedError(h, { cause: err })
    } finally {
      clear()
    }
  }

  /** stop re-announcing a blob this node no longer holds (records already out expire on their own) */
  async withdraw (hash: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.announcedAt.delete(parseHash(hash))
    this.pending.delete(parseHash(hash))
    await this.components.libp2p.services.dht.cancelReprovide(cidOfHash(hash), options)
  }

  /**
   * Announce every held blob, except those announced with success within the last half interval
   * (when the blob was stored, or by a round that had failures elsewhere): a retry after a
   * failure, or the first round after a start put off for want of peers, redoes only what is
   * due, not every blob the node holds. Failures are logged and counted, not thrown.
   */
  async announceAll (options: { signal?: AbortSignal } = {}): Promise<{ announced: number, failed: number, skipped: number }> {
    const now = Date.now()
    const fresh = this.init.reannounceIntervalMs / 2
    for (const [hash, at] of this.announcedAt) if (now - at >= fresh) this.announcedAt.delete(hash)
    const list = this.components.blobs.list(options)
    return await this.announceMany((async function * () { for await (const blob of list) yield blob.hash })(), options)
  }

  /** announce each of `hashes` not announced within the last half interval, a few at a time; failures are counted and logged */
  private async announceMany (hashes: Iterable<string> | AsyncIterable<string>, options: { signal?: AbortSignal }, requeue = false): Promise<{ announced: number, failed: number, skipped: number }> {
    const counts = { announced: 0, failed: 0, skipped: 0 }
    const running = new Set<Promise<void>>()
    for await (const hash of hashes) {
      if (this.isFresh(parseHash(hash), Date.now())) {
        counts.skipped++
        continue
      }
      const p = this.announce(hash, options).then(() => { counts.announced++ }, (err: unknown) => {
        counts.failed++
        // a batch's failure is queued again: the next batch retries it (after retryIntervalMs)
        if (requeue && this.controller != null && options.signal?.aborted !== true) this.pending.add(parseHash(hash))
        this.warn.log('warn', 'announce', 'could not announce a blob', { hash, err: String(err) })
      }).finally(() => { running.delete(p) })
      running.add(p)
      if (running.size >= this.init.announceConcurrency) await Promise.race(running)
    }
    await Promise.all(running)
    return counts
  }

  /** announced with success within the last half interval */
  private isFresh (hash: string, now: number): boolean {
    const at = this.announcedAt.get(hash)
    return at != null && now - at < this.init.reannounceIntervalMs / 2
  }

  /**
   * (re)arm the batch timer: `delayMs` from now, but (when `capped`) never past `batchMaxWaitMs`
   * after the oldest queued blob. A batch is put off while the node has no connections.
   */
  private armBatch (delayMs: number, capped = true): void {
    const controller = this.controller
    if (controller == null) return
    clearTimeout(this.batchTimer)
    const latest = capped ? this.pendingSince + this.init.batchMaxWaitMs - Date.now() : delayMs
    this.batchTimer = setTimeout(() => {
      this.batchTimer = undefined
      if (this.components.libp2p.getConnections().length === 0) {
        // looked at again after the retry interval, not capped by batchMaxWaitMs: counted from the
        // oldest blob that time is soon past, and every re-arm would fire at once; blobs queued
        // meanwhile count their latest time from now
        this.pendingSince = Date.now()
        this.logger.debug('no connections: announcing the batch later', { blobs: this.pending.size })
        this.armBatch(this.init.retryIntervalMs, false)
        return
      }
      this.batch = this.flush({ signal: controller.signal })
        .then(counts => counts.failed > 0 ? this.init.retryIntervalMs : this.init.quietMs, (err: unknown) => {
          if (!controller.signal.aborted) this.logger.warn('announcing a batch of blobs failed', { err: String(err) })
          return this.init.retryIntervalMs
        })
        .then((next) => {
          this.batch = undefined
          // what failed, and what was queued while the batch ran
          if (this.pending.size > 0) {
            this.pendingSince = Date.now()
            this.armBatch(next)
          }
        })
    }, Math.max(0, Math.min(delayMs, latest)))
  }

  /**
   * Peers that announced `hash`, other than this node: at most `maxHolders`, found within
   * `findTimeoutMs` (what was found by then is returned; possibly none). ERR_ABORTED if the
   * caller's signal aborts.
   */
  async findHolders (hash: string, options: { signal?: AbortSignal, max?: number } = {}): Promise<string[]> {
    const cid = cidOfHash(hash)
    const max = options.max ?? this.init.maxHolders
    const self = this.components.libp2p.peerId.toString()
    const found = new Set<string>()
    const { signal, clear } = this.bounded(this.init.findTimeoutMs, 'finding holders took too long', options.signal)
    try {
      for await (const event of this.components.libp2p.services.dht.findProviders(cid, { signal })) {
        if (event.name !== 'PROVIDER') continue
        for (const info of event.providers) {
          const id = info.id.toString()
          if (id === self || found.has(id)) continue
          found.add(id)
          if (info.multiaddrs.length > 0) await this.components.libp2p.peerStore?.merge(info.id, { multiaddrs: info.multiaddrs }).catch(() => {})
          if (found.size >= max) return [...found]
        }
      }
    } catch (err) {
      if (options.signal?.aborted === true) throw abortReason(options.signal, FETCH_ERRORS.aborted)
      // a search that ran out of time or failed part-way still found who it found
      if (!signal.aborted) this.warn.log('debug', 'find', 'search for holders failed', { hash, err: String(err) })
    } finally {
      clear()
    }
    return [...found]
  }

  private schedule (delayMs: number): void {
    const controller = this.controller
    if (controller == null) return
    this.timer = setTimeout(() => {
      this.round = this.runRound(controller.signal).then((next) => { this.schedule(next) })
    }, delayMs)
  }

  /** one round over every held blob; resolves with the delay until the next */
  private async runRound (signal: AbortSignal): Promise<number> {
    if (this.components.libp2p.getConnections().length === 0) {
      this.logger.debug('no connections: announcing held blobs later')
      return this.init.retryIntervalMs
    }
    try {
      const counts = await this.announceAll({ signal })
      this.logger.debug('announced held blobs', counts)
      return counts.failed > 0 ? this.init.retryIntervalMs : this.init.reannounceIntervalMs
    } catch (err) {
      if (!signal.aborted) this.logger.warn('announcing held blobs failed', { err: String(err) })
      return this.init.retryIntervalMs
    }
  }

  /** the caller's signal plus this service's stop plus a deadline */
  private bounded (ms: number, what: string, caller?: AbortSignal): { signal: AbortSignal, clear: () => void } {
    // not AbortSignal.any: on Node.js 20 each one leaves a WeakRef on the service's signal for good
    const link = linkedSignal([caller, this.controller?.signal], { ms, reason: () => new FetchTimeoutError(what) })
    return { signal: link.signal, clear: link.dispose }
  }
}
