/**
 * The fuzz loop: runs a target over N cases, each with its own PRNG derived from the run seed,
 * the target's name and the case index. A case either returns the outcome's label ("accepted" or a
 * rejection reason) or throws; a throw that is not one of the target's typed errors fails the
 * test with the seed and case index to reproduce it. Rejections are tallied by reason, and the
 * slowest case and the heap's growth are measured.
 */
import { appendFileSync } from 'node:fs'
import { Prng, runSeed, seedFrom } from './prng.js'

/** the seed of this test process (print it, or set CIT_FUZZ_SEED to reproduce) */
export const SEED = runSeed()

/** cases per target: `CIT_FUZZ_CASES`, else 10,000 (100,000 under `npm run soak`) */
export const CASES = Number(process.env.CIT_FUZZ_CASES ?? '') > 0 ? Number(process.env.CIT_FUZZ_CASES) : process.env.CIT_SOAK === '1' ? 100_000 : 10_000

/** a test's time limit for 10,000 cases, scaled to the number of cases this run does */
export function timeLimit (ms: number): number {
  return Math.round(ms * Math.max(1, CASES / 10_000))
}

export interface Tally {
  target: string
  seed: number
  cases: number
  /** outcome label → count ("accepted" and each rejection reason) */
  reasons: Record<string, number>
  ms: number
  maxCaseMs: number
  heapGrowthBytes: number
}

/** a typed error a target may throw, as its code (e.g. ERR_MALFORMED), or undefined for anything else */
export type Allowed = (err: unknown) => string | undefined

/** allow ProtocolError-like errors (anything with a string `code`) with one of `codes` */
export function codes (...allowed: string[]): Allowed {
  return (err: unknown) => {
    const code = (err as { code?: unknown } | null)?.code
    return typeof code === 'string' && allowed.includes(code) && err instanceof Error ? code : undefined
  }
}

/** a short, stable label for a rejection message: numbers and quoted parts folded */
export function label (message: string): string {
  // the part before any quoted or parenthesised detail: the kind of problem, not the instance
  const head = message.split(/["(]/)[0]
  return head.replace(/\d+/g, 'N').replace(/\s+/g, ' ').trim().replace(/[:,]$/, '').slice(0, 60)
}

export class FuzzFailure extends Error {
  constructor (target: string, index: number, cause: unknown) {
    const what = cause instanceof Error ? `${cause.name}${(cause as { code?: string }).code != null ? ` ${(cause as { code?: string }).code}` : ''}: ${cause.message}` : String(cause)
    super(`fuzz target ${target}, case ${index}: ${what}\n  reproduce: CIT_FUZZ_SEED=${SEED} (the case's own seed is seedFrom(${SEED}, ${JSON.stringify(target)}, ${index}))`, { cause })
    this.name = 'FuzzFailure'
  }
}

/**
 * Run `fn` on `cases` cases. `fn` returns the outcome label; a throw is checked with `allowed`
 * (its code becomes the label) or fails the run.
 */
export async function fuzz (target: string, fn: (rng: Prng, index: number) => string | Promise<string>, options: { cases?: number, allowed?: Allowed } = {}): Promise<Tally> {
  const cases = options.cases ?? CASES
  const reasons = new Map<string, number>()
  const heapBefore = process.memoryUsage().heapUsed
  const started = performance.now()
  let maxCaseMs = 0
  for (let i = 0; i < cases; i++) {
    const rng = new Prng(seedFrom(SEED, target, i))
    const t0 = performance.now()
    let outcome: string
    try {
      outcome = await fn(rng, i)
    } catch (err) {
      const code = options.allowed?.(err)
      if (code === undefined) throw new FuzzFailure(target, i, err)
      outcome = code
    }
    const dt = performance.now() - t0
    if (dt > maxCaseMs) maxCaseMs = dt
    reasons.set(outcome, (reasons.get(outcome) ?? 0) + 1)
  }
  const tally: Tally = {
    target,
    seed: SEED,
    cases,
    reasons: Object.fromEntries([...reasons].sort((a, b) => b[1] - a[1])),
    ms: Math.round(performance.now() - started),
    maxCaseMs: Math.round(maxCaseMs * 10) / 10,
    heapGrowthBytes: process.memoryUsage().heapUsed - heapBefore
  }
  report('fuzz', tally)
  return tally
}

/**
 * Print a figure for docs/reliability.md, and append it as a JSON line to the file named by
 * `CIT_RELIABILITY_OUT` when set.
 */
export function report (kind: string, figures: object): void {
  const line = JSON.stringify({ kind, at: new Date().toISOString(), ...figures })
  console.log(`[reliability] ${line}`)
  const out = process.env.CIT_RELIABILITY_OUT
  if (out != null && out !== '') appendFileSync(out, line + '\n')
}
