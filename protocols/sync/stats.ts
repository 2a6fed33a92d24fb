import type { SyncSideStats, SyncStats } from './types.js'

type Side = 'served' | 'pulled'

/** the code a failure is counted under: a typed error's `code`, else ERR_UNKNOWN */
export function errorCode (err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.length > 0 && code.length <= 64 ? code : 'ERR_UNKNOWN'
}

/** counters of the sync service, by direction */
export class SyncCounters {
  refused = 0
  private readonly sides: Record<Side, { sessions: number, pages: number, items: number, errors: Map<string, number> }> = {
    served: { sessions: 0, pages: 0, items: 0, errors: new Map() },
    pulled: { sessions: 0, pages: 0, items: 0, errors: new Map() }
  }

  session (side: Side): void {
    this.sides[side].sessions++
  }

  page (side: Side, items: number, pages = 1): void {
    this.sides[side].pages += pages
    this.sides[side].items += items
  }

  /** count a failed session; returns the code it was counted under */
  error (side: Side, err: unknown): string {
    const code = errorCode(err)
    const errors = this.sides[side].errors
    errors.set(code, (errors.get(code) ?? 0) + 1)
    return code
  }

  snapshot (): SyncStats {
    const side = (s: Side): SyncSideStats => {
      const { sessions, pages, items, errors } = this.sides[s]
      return { sessions, pages, items, errors: Object.fromEntries(errors) }
    }
    return { served: side('served'), pulled: side('pulled'), refused: this.refused }
  }
}
