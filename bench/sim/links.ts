/**
 * The simulated network under every message of the simulator: a latency per link (drawn once per
 * pair of nodes, from the seed, within the configured range, plus a little jitter per message),
 * loss per message, and counters of what was sent by kind. Times are whole milliseconds of
 * virtual time (see VirtualTime's batched run: one turn of the event loop per instant).
 */
import type { VirtualTime } from '../../protocols/lease/index.js'

/** mulberry32: a seeded PRNG, so that a run replays exactly from its seed */
export class Rng {
  private state: number
  constructor (seed: number) { this.state = seed >>> 0 }
  /** uniform in [0, 1) */
  float (): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** uniform whole number in [0, n) */
  int (n: number): number { return Math.floor(this.float() * n) }
}

export interface LinkInit {
  /** one-way latency of a link, drawn once per pair in [min, max] ms */
  latencyMs: [number, number]
  /** probability that one message is lost */
  loss: number
  seed: number
}

/** a 32-bit hash of a pair of node indices and the seed (the same whichever way round) */
function pairHash (seed: number, a: number, b: number): number {
  const lo = Math.min(a, b)
  const hi = Math.max(a, b)
  let h = (seed ^ Math.imul(lo + 1, 0x9e3779b1) ^ Math.imul(hi + 1, 0x85ebca77)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

export class Links {
  /** messages handed to the network, by kind (lost ones included: they were sent) */
  readonly sent = new Map<string, number>()
  lost = 0
  private readonly rng: Rng
  /** when each node last received anything from each other node (key `receiver * 2^16 + sender`) */
  private readonly heardAt = new Map<number, number>()

  private readonly madeAt: number

  constructor (private readonly vt: VirtualTime, private readonly init: LinkInit) {
    this.rng = new Rng(init.seed ^ 0x5eed)
    this.madeAt = vt.t
  }

  /** the base one-way latency of the link between nodes `a` and `b` */
  latency (a: number, b: number): number {
    const [min, max] = this.init.latencyMs
    return min + (max - min) * (pairHash(this.init.seed, a, b) / 4294967296)
  }

  /** send one message of `kind` from `a` to `b`: `deliver` runs at `b` after the link's latency, unless it is lost */
  send (kind: string, a: number, b: number, deliver: () => void): void {
    this.sent.set(kind, (this.sent.get(kind) ?? 0) + 1)
    if (this.init.loss > 0 && this.rng.float() < this.init.loss) {
      this.lost++
      return
    }
    this.heard(b, a)
    // up to 10% jitter; whole milliseconds keep the instants few (one event-loop turn each)
    const ms = Math.max(1, Math.round(this.latency(a, b) * (1 + 0.1 * this.rng.float())))
    this.vt.after(ms, deliver)
  }

  /** count a message of `kind` sent from `a` to `b` whose delivery would change nothing (the receiver has it already) */
  count (kind: string, a: number, b: number): void {
    this.sent.set(kind, (this.sent.get(kind) ?? 0) + 1)
    this.heard(b, a)
  }

  /**
   * How long node `at` has received nothing from node `from`. Taken when the message is sent, not
   * when it arrives: the link's latency is a few ms against the quiet monitor's interval of a
   * minute. A link that has carried nothing yet counts as last heard at a time drawn (from the
   * seed) within the `spreadMs` before the network was made: the simulated window is short, and
   * in a mesh that has run for a while the links' quiet spells are out of phase.
   */
  quietFor (at: number, from: number, spreadMs: number): number {
    const last = this.heardAt.get(at * 65536 + from) ?? this.madeAt - pairHash(this.init.seed ^ at, at, from) % spreadMs
    return this.vt.t - last
  }

  private heard (at: number, from: number): void {
    this.heardAt.set(at * 65536 + from, this.vt.t)
  }

  /** every message sent so far */
  total (): number {
    let n = 0
    for (const v of this.sent.values()) n += v
    return n
  }
}
