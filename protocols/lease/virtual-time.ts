/**
 * Virtual time for running the real lease code (and anything else that takes a LeaseClock) without
 * waiting: a queue of timed callbacks ordered by time, then by scheduling order, clocks per node
 * (offset and rate), and a turn of the real event loop between callbacks so that promise chains
 * settle. The lease model test and the mesh simulator (bench/sim) both run on it.
 */
import type { LeaseClock } from './types.js'

/** one scheduled callback; `cancelled` ones are skipped when their time comes */
export interface VirtualTimer { at: number, seq: number, fn: () => void, cancelled: boolean }

function before (a: VirtualTimer, b: VirtualTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** a binary min-heap of timers: the order of `before`, whatever the order of insertion */
class TimerHeap {
  private readonly items: VirtualTimer[] = []

  get size (): number { return this.items.length }
  peek (): VirtualTimer | undefined { return this.items[0] }

  push (t: VirtualTimer): void {
    const a = this.items
    a.push(t)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(a[i], a[p])) break
      ;[a[i], a[p]] = [a[p], a[i]]
      i = p
    }
  }

  pop (): VirtualTimer | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last != null) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && before(a[l], a[m])) m = l
        if (r < a.length && before(a[r], a[m])) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m], a[i]]
        i = m
      }
    }
    return top
  }
}

export interface RunOptions {
  /** stop early when this says so (checked between callbacks) */
  stop?: () => boolean
  /**
   * Settle promise chains once per instant instead of after every callback: every callback due at
   * the same time runs, then one turn of the event loop. Much faster with many callbacks; the
   * order within an instant is still the order of scheduling.
   */
  batched?: boolean
}

export class VirtualTime {
  /** real (simulated) time in ms */
  t = 0
  /** callbacks run so far */
  ran = 0
  private seq = 0
  private readonly queue = new TimerHeap()

  /** run `fn` after `ms` of real time */
  after (ms: number, fn: () => void): VirtualTimer {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false }
    this.queue.push(timer)
    return timer
  }

  /** callbacks waiting (cancelled ones included until their time) */
  get pending (): number { return this.queue.size }

  /** a node's clock: `offset` ms ahead of real time, running at `rate` */
  clock (offset = 0, rate = 1): LeaseClock {
    return {
      now: () => Math.round(offset + this.t * rate),
      setTimeout: (fn, ms) => this.after(ms / rate, fn),
      clearTimeout: handle => { if (handle != null) (handle as VirtualTimer).cancelled = true }
    }
  }

  /** sleep `ms` of a clock's time */
  async sleep (clock: LeaseClock, ms: number): Promise<void> {
    await new Promise<void>(resolve => { clock.setTimeout(resolve, ms) })
  }

  /** run callbacks in time order until `until` (real ms) or nothing is left */
  async run (until: number, options: RunOptions | (() => boolean) = {}): Promise<void> {
    const { stop = () => false, batched = false } = typeof options === 'function' ? { stop: options } : options
    await settle(batched ? 1 : 3)
    let stopped = false
    while (this.queue.size > 0 && !(stopped = stop())) {
      const next = this.queue.peek()!
      if (next.at > until) break
      this.queue.pop()
      if (next.cancelled) continue
      this.t = next.at
      next.fn()
      this.ran++
      if (!batched) await settle()
      else if (this.queue.peek() == null || this.queue.peek()!.at > this.t) await settle(1)
    }
    if (this.t < until && !stopped) this.t = until
  }
}

/** let every promise chain that can progress without time passing do so */
export async function settle (turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise(resolve => setImmediate(resolve))
}
