/**
 * A tiny seeded PRNG for the fuzz and chaos suites: every case is derived from (run seed, target,
 * case index), so one failing case is reproduced from the seed printed with the failure
 * (`CIT_FUZZ_SEED=<seed>`), without replaying the cases before it.
 */

/** FNV-1a over the parts' text: a 32-bit seed from a run seed and names */
export function seedFrom (...parts: Array<string | number>): number {
  let h = 0x811c9dc5
  for (const ch of parts.join('\u0000')) {
    h ^= ch.charCodeAt(0)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/** the run's seed: `CIT_FUZZ_SEED` when set (to reproduce a failure), else a fresh one */
export function runSeed (): number {
  const given = process.env.CIT_FUZZ_SEED
  if (given != null && given !== '') {
    const n = Number(given)
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`CIT_FUZZ_SEED must be a whole number, got ${JSON.stringify(given)}`)
    return n >>> 0
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0
}

/** mulberry32: 32 bits of state, good enough to spread test cases, trivially reproducible */
export class Prng {
  private state: number

  constructor (seed: number) {
    this.state = seed >>> 0
  }

  /** a uniform 32-bit unsigned integer */
  u32 (): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** a float in [0, 1) */
  float (): number {
    return this.u32() / 4294967296
  }

  /** an integer in [0, n) */
  int (n: number): number {
    return Math.floor(this.float() * n)
  }

  /** an integer in [lo, hi] */
  range (lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  bool (p = 0.5): boolean {
    return this.float() < p
  }

  pick<T> (items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }

  /** a length skewed towards small values, sometimes up to `max` */
  size (max: number): number {
    const r = this.float()
    if (r < 0.6) return this.int(Math.min(max, 16) + 1)
    if (r < 0.9) return this.int(Math.min(max, 256) + 1)
    return this.int(max + 1)
  }
}
