import { RESULT_HOLDERS_MAX_BLOBS } from './constants.js'
import { InvalidFetcherOptionError } from './errors.js'

/** what a job's signed result says about where its blobs are */
export interface ResultRef {
  /** the node that ran the job (for a cache hit: the node that ran the job it came from) */
  executor?: string
  /** the node the job was submitted on, which may have fetched a copy */
  origin?: string
  /** the result's blobs: log, artefacts, Nix closures, provenance statement */
  blobs: string[]
}

/**
 * Who should hold a result's blobs, from the signed results this node has seen: the job's
 * executor first, then its submitting node. A fetch asks them before it searches the DHT, so a
 * fresh result is fetchable before any provider record for it went out. Only a hint: what a
 * hinted holder sends is verified like any holder's, and a fetch whose hinted holders fail asks
 * the DHT. Bounded: the newest `maxBlobs` blobs are remembered (older ones are found through
 * the DHT).
 */
export class ResultHolders {
  private readonly byBlob = new Map<string, string[]>()
  /** fetches waiting for a result that names their blob (`waitFor`) */
  private readonly waiting = new Map<string, Set<() => void>>()

  constructor (private readonly maxBlobs = RESULT_HOLDERS_MAX_BLOBS) {
    if (!Number.isSafeInteger(maxBlobs) || maxBlobs <= 0) throw new InvalidFetcherOptionError(`ResultHolders: maxBlobs must be a positive integer, got ${String(maxBlobs)}`)
  }

  /** remember where a result's blobs are */
  learn (ref: ResultRef): void {
    const holders = [...new Set([ref.executor, ref.origin].filter((p): p is string => typeof p === 'string' && p !== ''))]
    if (holders.length === 0) return
    for (const hash of ref.blobs) {
      // re-inserted at the end: the newest results are the ones kept
      this.byBlob.delete(hash)
      this.byBlob.set(hash, holders)
      for (const wake of this.waiting.get(hash) ?? []) wake()
    }
    for (const oldest of this.byBlob.keys()) {
      if (this.byBlob.size <= this.maxBlobs) break
      this.byBlob.delete(oldest)
    }
  }

  /** the nodes a result named for this blob, executor first (none if no result seen here named it) */
  holdersOf (hash: string): string[] {
    return this.byBlob.get(hash) ?? []
  }

  /**
   * The holders of `hash` once a result names it: at once when one did, else when one arrives
   * within `timeoutMs`; none after that or when `signal` aborts (never throws).
   */
  async waitFor (hash: string, options: { signal?: AbortSignal, timeoutMs: number }): Promise<string[]> {
    const known = this.holdersOf(hash)
    if (known.length > 0 || options.signal?.aborted === true) return known
    await new Promise<void>(resolve => {
      const set = this.waiting.get(hash) ?? new Set<() => void>()
      this.waiting.set(hash, set)
      const done = (): void => {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', done)
        set.delete(done)
        if (set.size === 0) this.waiting.delete(hash)
        resolve()
      }
      const timer = setTimeout(done, options.timeoutMs)
      options.signal?.addEventListener('abort', done, { once: true })
      set.add(done)
    })
    return this.holdersOf(hash)
  }

  get size (): number { return this.byBlob.size }
  /** fetches waiting for a result (for tests: none is left behind) */
  get waiters (): number { return this.waiting.size }
}
