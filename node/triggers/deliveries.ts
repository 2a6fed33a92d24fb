/**
 * Which webhook deliveries were taken already. A delivery is known by its id header and by the
 * sha256 of its raw body: the HMAC covers the body, not the headers, so a captured signed body
 * replayed without its id, or under another, is still caught (a signed push body names its
 * commit, ref and before, so an identical body is a replay). Both are persisted; while one is
 * being checked and written it is held in memory too, so two copies of a delivery that arrive
 * together cannot both pass.
 */
import { createHash } from 'node:crypto'
import type { MetaStore } from '../../store/meta/index.js'

/** the meta table of taken deliveries: `repo:id` and `repo#sha256` keys */
export const T_DELIVERIES = 'webhook-deliveries'

export interface DeliveryLedgerComponents {
  meta: Pick<MetaStore, 'table' | 'batch'>
}

export class DeliveryLedger {
  private readonly pending = new Set<string>()

  constructor (private readonly c: DeliveryLedgerComponents) {}

  /** whether this delivery (its id if any, its body) is new; if so it is remembered */
  async take (repo: string, id: string | undefined, body: Uint8Array): Promise<boolean> {
    const keys = [`${repo}#${createHash('sha256').update(body).digest('hex')}`]
    if (id != null) keys.push(`${repo}:${id.slice(0, 128)}`)
    // held before the first await: a concurrent copy sees it at once
    if (keys.some(k => this.pending.has(k))) return false
    for (const k of keys) this.pending.add(k)
    try {
      const table = this.c.meta.table(T_DELIVERIES)
      for (const k of keys) if (await table.has(k)) return false
      const now = Date.now()
      await this.c.meta.batch(keys.map(key => ({ type: 'put' as const, table: T_DELIVERIES, key, value: now })))
      return true
    } finally {
      for (const k of keys) this.pending.delete(k)
    }
  }
}
