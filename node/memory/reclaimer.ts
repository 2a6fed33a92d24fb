import { RECLAIM_CHECK_EVERY_MS, RECLAIM_GROWTH_BYTES, RECLAIM_QUIET_BYTES } from './constants.js'
import type { Logger } from '../../store/logger.js'

export interface HeapReclaimerComponents {
  /**
   * bytes the heap holds now, live and garbage: its committed pages and the native memory of its
   * ArrayBuffers (a transfer's Buffers are small objects on the heap over large native blocks)
   */
  heapSize?: () => number
  /** one full collection (see `fullCollection`) */
  collect: () => void
  /** the process's resident bytes */
  residentSize?: () => number
  /** hands malloc's free pages back to the OS (see `mallocTrim`); without it native memory is left to malloc */
  trim?: () => boolean
  logger: Logger
}

export interface HeapReclaimerInit {
  checkEveryMs?: number
  growthBytes?: number
  quietBytes?: number
}

/**
 * When a size that work makes grow (the heap, the resident set) is due to be brought back down:
 * it has grown `growthBytes` above the smallest it has been, by half that since it was last
 * brought down, and less than `quietBytes` over the last check (the burst of work is over).
 * Growth is counted from the smallest size seen, not from the last reclaim, which may have come
 * in a pause of the work while much was still live; the half margin since then keeps a size whose
 * live part grew for good from being reclaimed again at every check.
 */
class Burst {
  private floor = 0
  private settled = 0
  private last = 0

  constructor (private readonly growthBytes: number, private readonly quietBytes: number) {}

  reset (size: number): void {
    this.floor = this.settled = this.last = size
  }

  /** records `size` and says whether it is due */
  due (size: number): boolean {
    const quiet = size - this.last < this.quietBytes
    this.last = size
    this.floor = Math.min(this.floor, size)
    // a size that shrank on its own: new work counts from there
    this.settled = Math.min(this.settled, size)
    return quiet && size - this.floor >= this.growthBytes && size - this.settled >= this.growthBytes / 2
  }

  /** the size right after it was brought down */
  reclaimed (size: number): void {
    this.settled = this.last = size
    this.floor = Math.min(this.floor, size)
  }
}

/**
 * V8 collects the old generation when it reaches a limit set at the last collection, and an idle
 * daemon allocates too little ever to reach it: whatever a burst of work left there (job records,
 * gossip messages, decoded CBOR, the Buffers of a transfer, whose native memory goes with them)
 * stays, committed and resident, for as long as the daemon idles; and a collection V8 does run
 * frees the garbage but keeps every page a survivor sits on. Once the heap has grown and then
 * stopped growing (`Burst`), this runs one full compacting collection (tens to a couple of hundred
 * ms for a daemon's heap); a busy daemon, whose heap keeps growing, is left to V8's own schedule.
 * Native memory the work freed (socket reads, deciphered records, the recorder's batches) stays
 * with malloc, which gives back only the top of its heaps: after a compaction, and whenever the
 * resident set has grown and settled on its own, `trim` hands the free pages back (a few ms).
 */
export class HeapReclaimer {
  private readonly heapSize: () => number
  private readonly residentSize: () => number
  private readonly checkEveryMs: number
  private readonly heap: Burst
  private readonly resident: Burst
  private timer?: NodeJS.Timeout

  constructor (private readonly c: HeapReclaimerComponents, init: HeapReclaimerInit = {}) {
    this.heapSize = c.heapSize ?? heapAndBuffers
    this.residentSize = c.residentSize ?? (() => process.memoryUsage.rss())
    this.checkEveryMs = init.checkEveryMs ?? RECLAIM_CHECK_EVERY_MS
    const growth = init.growthBytes ?? RECLAIM_GROWTH_BYTES
    const quiet = init.quietBytes ?? RECLAIM_QUIET_BYTES
    this.heap = new Burst(growth, quiet)
    this.resident = new Burst(growth, quiet)
  }

  start (): void {
    if (this.timer != null) return
    this.heap.reset(this.heapSize())
    this.resident.reset(this.residentSize())
    this.timer = setInterval(() => { this.check() }, this.checkEveryMs)
    // it must never be what keeps a process alive
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** one look at the heap and the resident set; true when it ran a collection */
  check (): boolean {
    const size = this.heapSize()
    const collect = this.heap.due(size)
    const resident = this.residentSize()
    const trim = this.resident.due(resident) || (collect && this.c.trim != null)
    if (collect) {
      const started = performance.now()
      this.c.collect()
      const after = this.heapSize()
      this.heap.reclaimed(after)
      this.c.logger.debug('heap compacted after a burst of work', { beforeBytes: size, afterBytes: after, ms: Math.round(performance.now() - started) })
    }
    if (trim && this.c.trim != null) {
      const started = performance.now()
      this.c.trim()
      const after = this.residentSize()
      this.c.logger.debug('free native memory handed back', { beforeBytes: resident, afterBytes: after, ms: Math.round(performance.now() - started) })
      this.resident.reclaimed(after)
    }
    return collect
  }
}

function heapAndBuffers (): number {
  const m = process.memoryUsage()
  return m.heapTotal + m.arrayBuffers
}

/** a reclaimer for this process, started; returns what stops it (nothing runs where V8 gives no full collection) */
export function startReclaimer (logger: Logger, collect: (() => void) | null, trim?: (() => boolean) | null): () => void {
  if (collect == null) {
    logger.info('no full collection in this runtime: the heap is left to V8 between bursts of work')
    return () => {}
  }
  if (trim == null) logger.info('malloc_trim is not available (the native helper was not built, or the C library is not glibc): freed native memory stays with malloc')
  const reclaimer = new HeapReclaimer({ collect, trim: trim ?? undefined, logger })
  reclaimer.start()
  return () => { reclaimer.stop() }
}
