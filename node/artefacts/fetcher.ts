import { join, resolve } from 'node:path'
import { linkedSignal } from '../../protocols/codec/index.js'
import { FETCH_MAX_WINDOW_BYTES } from '../../protocols/fetch/index.js'
import { parseHash } from '../../store/blobs/hash.js'
import { silentLogger } from '../../store/logger.js'
import {
  FETCH_HINT_WAIT_MS, FETCH_HINTED_ONLY_BYTES, FETCH_MAX_HOLDER_FAILURES, FETCH_MAX_PARALLEL, FETCH_MAX_RANGES, FETCH_PER_HOLDER_PARALLEL, FETCH_PROBE_TIMEOUT_MS, FETCH_RANGE_BYTES,
  PARTIAL_DIR_NAME
} from './constants.js'
import { Download } from './download.js'
import { FetcherStoppedError, InvalidFetcherOptionError, NoHoldersError, UnrepairableDownloadError } from './errors.js'
import { HolderSet, probeHolders } from './holders.js'
import { PartFile } from './part-file.js'
import { RangePlan } from './range-plan.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'
import type { Libp2p } from '@libp2p/interface'

export interface FetcherComponents {
  libp2p: Pick<Libp2p, 'dialProtocol' | 'dial' | 'peerId'>
  /** where finished downloads are stored (with `expectedHash`) */
  blobs: Pick<BlobStore, 'has' | 'stat' | 'adoptFile'>
  /** who holds a blob, when a fetch names no holders (`Providers.findHolders`) */
  findHolders?: (hash: string, options: { signal?: AbortSignal }) => Promise<string[]>
  /**
   * who should hold a blob without asking the DHT: the executor a signed result names for it
   * (`ResultHolders.holdersOf`). Asked first when a fetch names no holders; the DHT is asked
   * when these cannot serve.
   */
  hintHolders?: (hash: string) => string[]
  /**
   * the same, waiting up to `timeoutMs` for a result that names the blob
   * (`ResultHolders.waitFor`): asked when neither a result nor the DHT knew a holder
   */
  awaitHintHolders?: (hash: string, options: { signal?: AbortSignal, timeoutMs: number }) => Promise<string[]>
  logger?: Logger
}

export interface FetcherInit {
  /** partial downloads live in `<dir>/partial/` (the blob store's filesystem avoids a cross-device copy) */
  dir: string
  /** bytes per range request (raised for huge blobs so there are at most FETCH_MAX_RANGES) */
  rangeBytes?: number
  /** range requests in flight per download */
  maxParallel?: number
  /** range requests in flight per holder */
  perHolderParallel?: number
  /** failures after which a holder is not used again by a download */
  maxHolderFailures?: number
  /** the first question to each holder (has it, what size) at most */
  probeTimeoutMs?: number
  /** a blob at least this big is also drawn from the DHT's holders when its hinted holders have it */
  hintedOnlyBytes?: number
  /** how long a fetch that found no holder waits for a result naming the blob (FETCH_HINT_WAIT_MS) */
  hintWaitMs?: number
  /** flow-control window per range request (see protocols/fetch) */
  windowBytes?: number
  ackBytes?: number
  /** read deadline per range request */
  frameTimeoutMs?: number
}

export interface FetchOptions {
  signal?: AbortSignal
  /** peer ids to download from; default: `findHolders` */
  holders?: string[]
  /** the blob's size when known (holders with another size are not used) */
  size?: number
  /** bytes on disk so far (it may go back when a range is retried) and the blob's size */
  onProgress?: (done: number, total: number) => void
}

export interface FetchResult {
  hash: string
  size: number
  /** the blob was already stored here: nothing was downloaded */
  local: boolean
  /** bytes received by this call */
  bytesFetched: number
  /** bytes an earlier, interrupted download of this blob had already received */
  resumedBytes: number
  /** bytes received from each holder by this call */
  byHolder: Record<string, number>
  /** holders whose bytes failed verification (for this blob) */
  badHolders: string[]
  /**
   * how the holders that served were found: the caller's list, the result that named the blob
   * (without the DHT), or the DHT; absent for a local blob
   */
  foundBy?: HolderSource
}

/** where a download's holders came from */
export type HolderSource = 'caller' | 'result' | 'dht'

type Tunables = Required<Omit<FetcherInit, 'dir' | 'windowBytes' | 'ackBytes' | 'frameTimeoutMs'>> & Pick<FetcherInit, 'windowBytes' | 'ackBytes' | 'frameTimeoutMs'>

/**
 * Downloads blobs by hash into the local BlobStore from whichever members hold them: several
 * holders at once, range by range into `<dir>/partial/<hash>.part` (resumable), the whole
 * verified before it is stored. Holders that send bad bytes are found out and dropped.
 * Concurrent fetches of one hash share one download. See docs/artefacts.md.
 */
export class Fetcher {
  private readonly init: Tunables
  private readonly partialDir: string
  private readonly logger: Logger
  private readonly running = new Map<string, Promise<FetchResult>>()
  private controller?: AbortController

  constructor (private readonly components: FetcherComponents, init: FetcherInit) {
    if (typeof init?.dir !== 'string' || init.dir === '') throw new InvalidFetcherOptionError('Fetcher: init.dir must be a non-empty path')
    this.partialDir = join(resolve(init.dir), PARTIAL_DIR_NAME)
    this.logger = components.logger ?? silentLogger
    this.init = {
      rangeBytes: init.rangeBytes ?? FETCH_RANGE_BYTES,
      maxParallel: init.maxParallel ?? FETCH_MAX_PARALLEL,
      perHolderParallel: init.perHolderParallel ?? FETCH_PER_HOLDER_PARALLEL,
      maxHolderFailures: init.maxHolderFailures ?? FETCH_MAX_HOLDER_FAILURES,
      probeTimeoutMs: init.probeTimeoutMs ?? FETCH_PROBE_TIMEOUT_MS,
      hintedOnlyBytes: init.hintedOnlyBytes ?? FETCH_HINTED_ONLY_BYTES,
      hintWaitMs: init.hintWaitMs ?? FETCH_HINT_WAIT_MS,
      windowBytes: init.windowBytes,
      ackBytes: init.ackBytes,
      frameTimeoutMs: init.frameTimeoutMs
    }
    for (const [key, value] of Object.entries(this.init)) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
        throw new InvalidFetcherOptionError(`Fetcher: init.${key} must be a positive integer, got ${String(value)}`)
      }
    }
    if ((this.init.windowBytes ?? 0) > FETCH_MAX_WINDOW_BYTES) throw new InvalidFetcherOptionError(`Fetcher: init.windowBytes may be at most ${FETCH_MAX_WINDOW_BYTES}`)
  }

  isStarted (): boolean { return this.controller != null }

  async start (): Promise<void> {
    this.controller ??= new AbortController()
  }

  /** cancel downloads in flight (they reject with ERR_STOPPED; their partial files are kept for a resume) and wait for them */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    this.controller = undefined
    controller.abort(new FetcherStoppedError('the fetcher stopped; the partial download is kept'))
    await Promise.allSettled([...this.running.values()])
  }

  /**
   * Download blob `hash` into the blob store unless it is there already. Rejects with
   * ERR_INVALID_HASH, ERR_INVALID_ARGUMENT, ERR_NO_HOLDERS (with `failures` per holder),
   * ERR_HASH_MISMATCH (no holder left to repair a corrupt download from), ERR_WRITE_FAILED,
   * the store's put errors, ERR_STOPPED, or the caller's abort reason.
   */
  async fetch (hash: string, options: FetchOptions = {}): Promise<FetchResult> {
    const controller = this.controller
    if (controller == null) throw new FetcherStoppedError()
    const h = parseHash(hash)
    if (options.size !== undefined && (!Number.isSafeInteger(options.size) || options.size < 0)) {
      throw new InvalidFetcherOptionError(`fetch: size must be a non-negative integer, got ${String(options.size)}`)
    }
    if (options.holders !== undefined && (!Array.isArray(options.holders) || options.holders.some(p => typeof p !== 'string'))) {
      throw new InvalidFetcherOptionError('fetch: holders must be a list of peer id strings')
    }
    const existing = this.running.get(h)
    if (existing != null) return await existing
    const p = this.download(h, options, controller.signal).finally(() => { this.running.delete(h) })
    this.running.set(h, p)
    return await p
  }

  private async download (hash: string, options: FetchOptions, stop: AbortSignal): Promise<FetchResult> {
    const link = linkedSignal([stop, options.signal])
    const signal = link.signal
    try {
      if (await this.components.blobs.has(hash)) {
        const { size } = await this.components.blobs.stat(hash)
        return { hash, size, local: true, bytesFetched: 0, resumedBytes: 0, byHolder: {}, badHolders: [] }
      }
      const began = performance.now()
      if (options.holders != null) {
        const given = this.others(options.holders)
        if (given.length === 0) throw new NoHoldersError(hash)
        return await this.attempt(hash, given, 'caller', {}, options, signal, began)
      }
      const hinted = this.hinted(hash)
      if (hinted.length === 0) {
        const found = await this.dhtHolders(hash, signal)
        if (found.length > 0) return await this.attempt(hash, found, 'dht', {}, options, signal, began)
        // asked right after a job finished, this node may not have heard its result yet (and the
        // executor's provider records wait for a quiet spell): wait a little for a result naming it
        const named = this.others(await this.components.awaitHintHolders?.(hash, { signal, timeoutMs: this.init.hintWaitMs }) ?? [])
        if (named.length === 0) throw new NoHoldersError(hash)
        return await this.attempt(hash, named, 'result', {}, options, signal, began)
      }
      try {
        return await this.attempt(hash, hinted, 'result', {}, options, signal, began)
      } catch (err) {
        // the executor is gone, refuses, or lied with nobody to repair from: whoever else holds
        // the blob is in the DHT (a resumed download keeps the ranges already verified-by-hash later)
        if (!(err instanceof NoHoldersError || err instanceof UnrepairableDownloadError) || signal.aborted) throw err
        const failures = err instanceof NoHoldersError ? err.failures : Object.fromEntries(err.suspects.map(p => [p, err.code]))
        this.logger.info('the holders the result names could not serve; asking the DHT', { hash, code: err.code, failures })
        const more = await this.dhtHolders(hash, signal)
        if (more.length === 0) throw err
        return await this.attempt(hash, more, 'dht', failures, options, signal, performance.now())
      }
    } catch (err) {
      if (stop.aborted) throw stop.reason
      if (options.signal?.aborted === true) throw options.signal.reason
      throw err
    } finally {
      link.dispose()
    }
  }

  /** probe `candidates`, then download from those that have the blob; `prior` failures are reported with this attempt's */
  private async attempt (
    hash: string, candidates: string[], foundBy: HolderSource, prior: Record<string, string>, options: FetchOptions, signal: AbortSignal, began: number
  ): Promise<FetchResult> {
    const found = performance.now()
    const libp2p = this.components.libp2p
    const probe = await probeHolders(libp2p, hash, candidates, options.size, this.init.probeTimeoutMs, signal)
    if (foundBy === 'result' && probe.size !== undefined && probe.size >= this.init.hintedOnlyBytes) {
      // a big blob: more holders make it faster, and the lookup costs little beside the transfer
      const more = (await this.dhtHolders(hash, signal)).filter(p => !candidates.includes(p))
      if (more.length > 0) {
        const extra = await probeHolders(libp2p, hash, more, probe.size, this.init.probeTimeoutMs, signal)
        probe.holders.push(...extra.holders)
        Object.assign(probe.failures, extra.failures)
      }
    }
    const failures = { ...prior, ...probe.failures }
    if (probe.size === undefined) throw new NoHoldersError(hash, failures)
    const timings = { findMs: Math.round(found - began), probeMs: Math.round(performance.now() - found) }
    const result = await this.downloadFrom(hash, probe.size, probe.holders, failures, options, signal, { ...timings, foundBy })
    return { ...result, foundBy }
  }

  private async downloadFrom (
    hash: string, size: number, holders: string[], probeFailures: Record<string, string>, options: FetchOptions, signal: AbortSignal,
    timings: Record<string, number | string>
  ): Promise<FetchResult> {
    const began = performance.now()
    const part = await PartFile.open(this.partialDir, hash, size, this.rangeBytesFor(size), this.logger)
    const resumedBytes = part.bytesDone
    if (resumedBytes > 0) this.logger.info('resuming download', { hash, resumedBytes, size })
    const plan = new RangePlan(size, this.rangeBytesFor(size), part.done)
    const set = new HolderSet(holders, this.init.maxHolderFailures, this.init.perHolderParallel)
    for (const [peer, code] of Object.entries(probeFailures)) set.drop(peer, code)
    const download = new Download({
      libp2p: this.components.libp2p,
      hash,
      part,
      plan,
      holders: set,
      limits: { ...this.init },
      signal,
      logger: this.logger,
      onProgress: options.onProgress
    })
    try {
      await download.run()
    } catch (err) {
      await part.close()
      if (err instanceof NoHoldersError) throw new NoHoldersError(hash, { ...probeFailures, ...err.failures })
      throw err
    }
    await part.close()
    const transferred = performance.now()
    try {
      // the part file becomes the blob without a copy; the download's own in-order hash is the
      // store's check (it verified before run() resolved)
      await this.components.blobs.adoptFile(part.path, { expectedHash: hash, hashedAs: download.verified ? hash : undefined, signal })
    } finally {
      // stored or refused, the part file is gone: its record of finished ranges goes with it
      await part.remove()
    }
    const ms = { ...timings, transferMs: Math.round(transferred - began), storeMs: Math.round(performance.now() - transferred) }
    this.logger.info('fetched blob', { hash, size, bytesFetched: download.bytesFetched, resumedBytes, readBackBytes: download.readBackBytes, holders: Object.keys(download.byHolder).length, ...ms })
    return { hash, size, local: false, bytesFetched: download.bytesFetched, resumedBytes, byHolder: download.byHolder, badHolders: download.badHolders }
  }

  /** the holders a signed result named for the blob, other than this node */
  private hinted (hash: string): string[] {
    try {
      return this.others(this.components.hintHolders?.(hash) ?? [])
    } catch (err) {
      this.logger.warn('could not read the holders results name', { hash, err: String(err) })
      return []
    }
  }

  /** the holders the DHT knows, other than this node */
  private async dhtHolders (hash: string, signal: AbortSignal): Promise<string[]> {
    return this.others(await this.components.findHolders?.(hash, { signal }) ?? [])
  }

  private others (peers: string[]): string[] {
    const self = this.components.libp2p.peerId.toString()
    return [...new Set(peers)].filter(p => p !== self)
  }

  /** ranges of at least `rangeBytes`, and no more than FETCH_MAX_RANGES of them */
  private rangeBytesFor (size: number): number {
    return Math.max(this.init.rangeBytes, Math.ceil(size / FETCH_MAX_RANGES))
  }
}
