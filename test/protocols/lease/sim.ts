/**
 * Virtual time for the lease model: a queue of timed callbacks, clocks per node (offset and
 * rate), and a turn of the real event loop between callbacks so promise chains settle. The real
 * LeaseService classes run on it over a MemoryNetwork.
 */
import type { LeaseClock } from '../../../protocols/lease/index.js'

interface Timer { at: number, seq: number, fn: () => void, cancelled: boolean }

export class VirtualTime {
  /** real (simulated) time in ms */
  t = 0
  private seq = 0
  private queue: Timer[] = []

  /** run `fn` after `ms` of real time */
  after (ms: number, fn: () => void): Timer {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false }
    // binary insertion keeps the queue ordered by time, then by insertion
    let lo = 0
    let hi = this.queue.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const q = this.queue[mid]
      if (q.at < timer.at || (q.at === timer.at && q.seq < timer.seq)) lo = mid + 1
      else hi = mid
    }
    this.queue.splice(lo, 0, timer)
    return timer
  }

  /** a node's clock: `offset` ms ahead of real time, running at `rate` */
  clock (offset: number, rate: number): LeaseClock {
    return {
      now: () => Math.round(offset + this.t * rate),
      setTimeout: (fn, ms) => this.after(ms / rate, fn),
      clearTimeout: handle => { if (handle != null) (handle as Timer).cancelled = true }
    }
  }

  /** sleep `ms` of a clock's time */
  async sleep (clock: LeaseClock, ms: number): Promise<void> {
    await new Promise<void>(resolve => { clock.setTimeout(resolve, ms) })
  }

  /** run callbacks in time order until `until` (real ms) or nothing is left */
  async run (until: number, stop: () => boolean = () => false): Promise<void> {
    await settle()
    while (this.queue.length > 0 && !stop()) {
      const next = this.queue[0]
      if (next.at > until) break
      this.queue.shift()
      if (next.cancelled) continue
      this.t = next.at
      next.fn()
      await settle()
    }
    if (this.t < until && !stop()) this.t = until
  }
}

/** let every promise chain that can progress without time passing do so */
export async function settle (): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve))
}
