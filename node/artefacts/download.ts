import { fetchRange, fetchRangeBulk } from '../../protocols/fetch/index.js'
import { PROGRESS_INTERVAL_MS, WRITE_BEHIND_BYTES } from './constants.js'
import { DownloadWriteError, NoHoldersError, UnrepairableDownloadError } from './errors.js'
import { failureCode } from './holders.js'
import { OrderedHash } from './ordered-hash.js'
import type { HolderSet } from './holders.js'
import type { PartFile } from './part-file.js'
import type { RangePlan } from './range-plan.js'
import type { Logger } from '../../store/logger.js'
import type { Libp2p } from '@libp2p/interface'

export interface DownloadLimits {
  maxParallel: number
  windowBytes?: number
  ackBytes?: number
  frameTimeoutMs?: number
  /** try the bulk channel first (default true) */
  bulk?: boolean
}

export interface DownloadContext {
  libp2p: Pick<Libp2p, 'dialProtocol' | 'dial'>
  hash: string
  part: PartFile
  plan: RangePlan
  holders: HolderSet
  limits: DownloadLimits
  signal: AbortSignal
  logger: Logger
  onProgress?: (done: number, total: number) => void
}

/**
 * One blob's download into its part file: ranges fetched from several holders at once, then
 * the whole verified. When it does not verify, every range no second holder confirmed is
 * fetched again from a holder that has not sent it, and the whole verified again, until it
 * does or no holder is left. Holders whose bytes differ from the verified ones are to blame.
 */
export class Download {
  bytesFetched = 0
  readonly byHolder: Record<string, number> = {}
  badHolders: string[] = []
  private inflightBytes = 0
  private lastProgress = 0
  private fatal?: Error
  /** holders without a bulk channel for us: their ranges come over the fetch protocol */
  private readonly noBulk = new Set<string>()
  /** bytes written so far of each range in flight, by its start */
  private readonly writing = new Map<number, number>()
  private readonly ordered: OrderedHash
  private saving?: Promise<void>
  /** bytes the in-order hash read back from the part file (they arrived ahead of it) */
  get readBackBytes (): number { return this.ordered.readBack }
  /** the whole download hashed to the blob's name (set when run() resolves) */
  verified = false

  constructor (private readonly ctx: DownloadContext) {
    const { plan, part } = ctx
    this.ordered = new OrderedHash(part, plan.size, plan.rangeBytes, (start) => {
      const index = start / plan.rangeBytes
      if (plan.done.has(index)) return plan.bounds(index).end - start
      return this.writing.get(start) ?? 0
    })
  }

  /** fetch until the part file hashes to the blob's name; throws ERR_NO_HOLDERS, ERR_HASH_MISMATCH, ERR_WRITE_FAILED, the abort reason */
  async run (): Promise<void> {
    const { plan, part, hash, signal } = this.ctx
    let actual: string | undefined
    let round = 0
    for (; ; round++) {
      try {
        await this.pass()
      } catch (err) {
        // keep what is done for a resume: the one fdatasync of a download that stops here
        await this.saving
        await part.save(true).catch((err) => { this.ctx.logger.warn('could not record download progress', { hash, err: String(err) }) })
        // a repair round that runs out of holders leaves the download as wrong as it was
        if (actual !== undefined && err instanceof NoHoldersError) throw new UnrepairableDownloadError(hash, actual, plan.suppliers())
        throw err
      }
      await this.saving
      // the in-order hash has seen nearly every byte as it arrived: only what came ahead of it is read back
      await this.ordered.catchUp(signal)
      actual = this.ordered.digest() ?? await part.hash(signal)
      if (actual === hash) break
      // which ranges differ between holders: hashed from the part file now, before any is fetched again
      await this.hashRanges(signal)
      this.ordered.reset()
      const suppliers = plan.suppliers()
      const reopened = plan.reopenForRepair(this.ctx.holders.usable())
      if (reopened.length === 0) {
        // every range that could be wrong was sent by every holder left: nobody to ask for a second opinion
        throw new UnrepairableDownloadError(hash, actual, suppliers)
      }
      for (const i of reopened) part.unmark(i)
      this.ctx.logger.warn('download does not verify; fetching unconfirmed ranges from other holders', { hash, actual, round, suppliers, reopened: reopened.length })
    }
    this.verified = true
    // a repaired download: the ranges fetched again are compared with what others sent before
    if (round > 0) await this.hashRanges(signal)
    this.badHolders = plan.blame()
    if (this.badHolders.length > 0) this.ctx.logger.warn('holders sent bytes that failed verification', { hash, holders: this.badHolders })
    this.progress(true)
  }

  /** hash, from the part file, every done range whose hash is not known yet */
  private async hashRanges (signal: AbortSignal): Promise<void> {
    const { plan, part } = this.ctx
    for (const index of plan.unhashed()) {
      const { start, end } = plan.bounds(index)
      plan.setHash(index, await part.hashRange(start, end, signal))
    }
  }

  /** fetch every pending range, several at a time */
  private async pass (): Promise<void> {
    const { plan, holders, signal } = this.ctx
    const workers = new Set<Promise<void>>()
    try {
      for (;;) {
        if (this.fatal != null) throw this.fatal
        signal.throwIfAborted()
        this.assign(workers)
        if (workers.size === 0) {
          if (plan.pendingCount === 0) return
          throw new NoHoldersError(this.ctx.hash, holders.failures())
        }
        await Promise.race(workers)
      }
    } finally {
      // a worker still running when this pass fails must not write after the caller moves on
      await Promise.allSettled(workers)
    }
  }

  /** start range requests while there are free slots, pending ranges and holders for them */
  private assign (workers: Set<Promise<void>>): void {
    const { plan, holders, limits } = this.ctx
    while (workers.size < limits.maxParallel && plan.pendingCount > 0) {
      let started = false
      for (const holder of holders.available()) {
        const index = plan.nextFor(holder)
        if (index === undefined) continue
        plan.begin(index, holder)
        holders.begin(holder)
        const w: Promise<void> = this.fetchOne(index, holder).finally(() => {
          holders.end(holder)
          workers.delete(w)
        })
        workers.add(w)
        started = true
        break
      }
      if (!started) return
    }
  }

  /** one range from one holder into the part file; never rejects (failures go to the plan and the holder set) */
  private async fetchOne (index: number, holder: string): Promise<void> {
    const { plan, part, holders, limits, signal } = this.ctx
    const { start, end } = plan.bounds(index)
    let received = 0
    this.writing.set(start, 0)
    // writes go behind the reads, in order, what queued meanwhile in one call, at most
    // WRITE_BEHIND_BYTES queued: the disk never stalls the socket
    let writes: Promise<void> = Promise.resolve()
    let queue: Uint8Array[] = []
    let queued = 0
    let written = 0
    let writeError: unknown
    const flush = async (): Promise<void> => {
      if (queue.length === 0) return
      const batch = queue
      queue = []
      let bytes = 0
      for (const c of batch) bytes += c.byteLength
      await part.writev(start + written, batch)
      written += bytes
      queued -= bytes
      this.writing.set(start, written)
    }
    const sink = async (chunk: Uint8Array): Promise<void> => {
      if (writeError != null) throw writeError
      this.ordered.feed(start + received, chunk)
      received += chunk.byteLength
      this.inflightBytes += chunk.byteLength
      this.progress(false)
      queued += chunk.byteLength
      const idle = queue.length === 0
      queue.push(chunk)
      // a batch already waiting for the disk takes this chunk along
      if (idle) {
        writes = writes.then(flush)
        writes.catch((err: unknown) => { writeError ??= err })
      }
      if (queued > WRITE_BEHIND_BYTES) await writes
    }
    const options = { signal, expectedSize: plan.size, windowBytes: limits.windowBytes, ackBytes: limits.ackBytes, frameTimeoutMs: limits.frameTimeoutMs }
    try {
      if (limits.bulk !== false && !this.noBulk.has(holder)) {
        try {
          await fetchRangeBulk(this.ctx.libp2p, holder, this.ctx.hash, start, end, sink, options)
        } catch (err) {
          // nothing was received: the same range over the fetch protocol, the holder not blamed
          if ((err as { code?: unknown }).code !== 'ERR_BULK_UNAVAILABLE' || received > 0) throw err
          this.noBulk.add(holder)
          this.ctx.logger.debug('no bulk channel to this holder; using the fetch protocol', { hash: this.ctx.hash, holder, err: String(err) })
          await fetchRange(this.ctx.libp2p, holder, this.ctx.hash, start, end, sink, options)
        }
      } else {
        await fetchRange(this.ctx.libp2p, holder, this.ctx.hash, start, end, sink, options)
      }
      await writes
    } catch (err) {
      // no write of this attempt may land after the range is handed to another one
      await writes.catch(() => {})
      if (writeError != null) err = writeError
      this.writing.delete(start)
      this.ordered.failed(start)
      this.inflightBytes -= received
      plan.fail(index)
      if (err instanceof DownloadWriteError) this.fatal ??= err
      else if (!signal.aborted) {
        holders.failed(holder, err)
        this.ctx.logger.debug('range request failed', { hash: this.ctx.hash, holder, index, code: failureCode(err) })
      }
      return
    }
    this.writing.delete(start)
    this.inflightBytes -= received
    // the range's own hash is taken only if the whole does not verify (hashRanges)
    part.markDone(index, plan.complete(index, holder))
    this.bytesFetched += received
    this.byHolder[holder] = (this.byHolder[holder] ?? 0) + received
    this.progress(true)
    this.saveSoon()
    void this.ordered.catchUp(signal).catch((err: unknown) => { if (!signal.aborted) this.fatal ??= err as Error })
  }

  /** record progress for a resume now and then, beside the transfer: never while holding up a range worker */
  private saveSoon (): void {
    if (this.saving != null) return
    this.saving = this.ctx.part.save()
      .catch((err: Error) => { this.fatal ??= err })
      .finally(() => { this.saving = undefined })
  }

  private progress (force: boolean): void {
    const cb = this.ctx.onProgress
    if (cb == null) return
    const now = Date.now()
    if (!force && now - this.lastProgress < PROGRESS_INTERVAL_MS) return
    this.lastProgress = now
    try {
      cb(this.ctx.plan.bytesDone + this.inflightBytes, this.ctx.plan.size)
    } catch (err) {
      this.ctx.logger.warn('progress callback threw', { err: String(err) })
    }
  }
}
