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
  logger: Logger
}

export interface HeapReclaimerInit {
  checkEveryMs?: number
  growthBytes?: number
  quietBytes?: number
}

/**
 * V8 collects the old generation when it reaches a limit set at the last collection, and an idle
 * daemon allocates too little ever to reach it: whatever a burst of work left there (job records,
 * gossip messages, decoded CBOR, the Buffers of a transfer, whose native memory goes with them)
 * stays, committed and resident, for as long as the daemon idles; and a collection V8 does run
 * frees the garbage but keeps every page a survivor sits on. Once the heap is `growthBytes` above
 * the smallest it has been, has grown since the last compaction, and then stopped growing for one
 * check, this runs one full compacting collection (tens to a couple of hundred ms for a daemon's
 * heap); a busy daemon, whose heap keeps growing, is left to V8's own schedule.
 */
export class HeapReclaimer {
  private readonly heapSize: () => number
  private readonly checkEveryMs: number
  private readonly growthBytes: number
  private readonly quietBytes: number
  private timer?: NodeJS.Timeout
  /** the smallest the heap has been: what an idle daemon needs */
  private floor = 0
  /** its size right after the last compaction */
  private compacted = 0
  private last = 0

  constructor (private readonly c: HeapReclaimerComponents, init: HeapReclaimerInit = {}) {
    this.heapSize = c.heapSize ?? heapAndBuffers
    this.checkEveryMs = init.checkEveryMs ?? RECLAIM_CHECK_EVERY_MS
    this.growthBytes = init.growthBytes ?? RECLAIM_GROWTH_BYTES
    this.quietBytes = init.quietBytes ?? RECLAIM_QUIET_BYTES
  }

  start (): void {
    if (this.timer != null) return
    this.floor = this.compacted = this.last = this.heapSize()
    this.timer = setInterval(() => { this.check() }, this.checkEveryMs)
    // it must never be what keeps a process alive
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** one look at the heap; true when it ran a collection */
  check (): boolean {
    const size = this.heapSize()
    const quiet = size - this.last < this.quietBytes
    this.last = size
    this.floor = Math.min(this.floor, size)
    // a heap V8 shrank on its own: new work counts from there
    this.compacted = Math.min(this.compacted, size)
    // growth is counted from the smallest heap seen, not from the last compaction, which may have
    // come in a pause of the work while much was still live; but it takes new work since then (half
    // the margin), so a heap whose live data grew for good is not compacted again at every check
    if (!quiet || size - this.floor < this.growthBytes || size - this.compacted < this.growthBytes / 2) return false
    const started = performance.now()
    this.c.collect()
    this.compacted = this.last = this.heapSize()
    this.floor = Math.min(this.floor, this.compacted)
    this.c.logger.debug('heap compacted after a burst of work', { beforeBytes: size, afterBytes: this.compacted, ms: Math.round(performance.now() - started) })
    return true
  }
}

function heapAndBuffers (): number {
  const m = process.memoryUsage()
  return m.heapTotal + m.arrayBuffers
}

/** a reclaimer for this process, started; returns what stops it (nothing runs where V8 gives no full collection) */
export function startReclaimer (logger: Logger, collect: (() => void) | null): () => void {
  if (collect == null) {
    logger.info('no full collection in this runtime: the heap is left to V8 between bursts of work')
    return () => {}
  }
  const reclaimer = new HeapReclaimer({ collect, logger })
  reclaimer.start()
  return () => { reclaimer.stop() }
}
