import { fetchRange } from '../../protocols/fetch/index.js'
import { InvalidFetcherOptionError } from './errors.js'
import type { Libp2p } from '@libp2p/interface'

/** how one holder is doing within one download */
interface HolderState {
  active: number
  failures: number
  /** why it is no longer used, if it is not */
  dropped?: string
}

/** remote answers that will not change if asked again: the holder is dropped at once */
const PERMANENT = new Set(['ERR_NOT_FOUND', 'ERR_NOT_ALLOWED', 'ERR_INVALID_RANGE', 'ERR_SIZE_MISMATCH', 'ERR_INVALID_HASH'])

/** the code a holder's failure is known by: the remote's code for an error reply, else the error's code */
export function failureCode (err: unknown): string {
  const e = err as { code?: unknown, remoteCode?: unknown } | null
  if (e?.code === 'ERR_REMOTE' && typeof e.remoteCode === 'string') return e.remoteCode
  return typeof e?.code === 'string' ? e.code : 'ERR_UNKNOWN'
}

/**
 * The holders of one download: which are in use, how loaded, how often they failed. A holder
 * whose answer cannot change (not found, not allowed, another size) is dropped at once; one
 * that times out or resets is dropped after `maxFailures`.
 */
export class HolderSet {
  private readonly states = new Map<string, HolderState>()

  constructor (holders: Iterable<string>, private readonly maxFailures: number, private readonly perHolder: number) {
    for (const h of holders) this.states.set(h, { active: 0, failures: 0 })
  }

  /** usable holders with a free slot, least loaded first (so every holder gets work) */
  available (): string[] {
    return [...this.states].filter(([, s]) => s.dropped == null && s.active < this.perHolder)
      .sort((a, b) => a[1].active - b[1].active).map(([h]) => h)
  }

  /** holders not dropped */
  usable (): string[] {
    return [...this.states].filter(([, s]) => s.dropped == null).map(([h]) => h)
  }

  begin (holder: string): void { this.state(holder).active++ }
  end (holder: string): void { this.state(holder).active-- }

  /** a request to `holder` failed: count it, drop the holder if it must be */
  failed (holder: string, err: unknown): void {
    const s = this.state(holder)
    const code = failureCode(err)
    s.failures++
    if (PERMANENT.has(code) || s.failures >= this.maxFailures) s.dropped = code
  }

  drop (holder: string, code: string): void {
    const s = this.states.get(holder)
    if (s != null) s.dropped ??= code
  }

  /** why each dropped holder was dropped */
  failures (): Record<string, string> {
    return Object.fromEntries([...this.states].filter(([, s]) => s.dropped != null).map(([h, s]) => [h, s.dropped as string]))
  }

  private state (holder: string): HolderState {
    const s = this.states.get(holder)
    if (s == null) throw new InvalidFetcherOptionError(`unknown holder ${holder}`)
    return s
  }
}

/**
 * Ask every holder for the blob's header (a zero-length range) at once: who has it, and how
 * big it is. Returns the holders of the size most of them report (or of `size` when the caller
 * knows it) and why the others were left out.
 */
export async function probeHolders (
  libp2p: Pick<Libp2p, 'dialProtocol'>, hash: string, holders: string[], size: number | undefined, timeoutMs: number, signal: AbortSignal
): Promise<{ size?: number, holders: string[], failures: Record<string, string> }> {
  const failures: Record<string, string> = {}
  const sizes = new Map<string, number>()
  await Promise.all(holders.map(async (holder) => {
    try {
      const r = await fetchRange(libp2p, holder, hash, 0, 0, () => {}, { signal, timeoutMs, frameTimeoutMs: timeoutMs, expectedSize: size })
      sizes.set(holder, r.size)
    } catch (err) {
      signal.throwIfAborted()
      failures[holder] = failureCode(err)
    }
  }))
  const votes = new Map<number, number>()
  for (const s of sizes.values()) votes.set(s, (votes.get(s) ?? 0) + 1)
  // the most common size; ties go to the smaller, which costs less if it turns out wrong
  const chosen = [...votes].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0]
  const agreeing: string[] = []
  for (const [holder, s] of sizes) {
    if (s === chosen) agreeing.push(holder)
    else failures[holder] = 'ERR_SIZE_MISMATCH'
  }
  return { size: chosen, holders: agreeing, failures }
}
