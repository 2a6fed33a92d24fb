import { LOAD_SILENT_AFTER_MS, silentAfterMs } from '../../protocols/load/index.js'
import type { LoadReport, NodeState } from '../../protocols/load/index.js'
import type { MetaStore } from '../../store/meta/index.js'

const T_PEERS = 'peers'
/** a report older than this marks its node unreachable (two missed heartbeats) in a small mesh; `silentAfterMs(size)` in any */
export const UNREACHABLE_AFTER_MS = LOAD_SILENT_AFTER_MS
/** reports are persisted at most this often per node, and whenever a node's state changes */
export const PERSIST_EVERY_MS = 60_000

export interface PeerEntry {
  report: LoadReport
  /** when this node received it (its own clock) */
  receivedAt: number
}

/** The `peers --json` row (DESIGN.md). */
export interface PeerView {
  peerId: string
  addrs: string[]
  /** active, paused, draining, gone (left the mesh), revoked (an admin revoked its roles) or unreachable (no recent report) */
  state: NodeState | 'unreachable' | 'revoked'
  labels: string[]
  load: { load1: number, cores: number, memFreeBytes: number, slotsFree: number }
  slots: number
  running: string[]
  reportAgeMs: number
  self: boolean
}

/**
 * The last load report of every node heard from. Reports are ordered by (at, seq): an older or
 * replayed one never overwrites a newer one. Kept across restarts, so a node that left still
 * shows as gone.
 */
export class PeerTable {
  private readonly entries = new Map<string, PeerEntry>()
  private readonly persistedAt = new Map<string, number>()
  private readonly now: () => number

  constructor (private readonly meta: MetaStore, options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now
  }

  /** nodes heard from, this one included once it has reported: what heartbeats and silences scale with */
  get size (): number { return this.entries.size }

  async start (): Promise<void> {
    for await (const [id, entry] of this.meta.table<PeerEntry>(T_PEERS).entries()) this.entries.set(id, entry)
  }

  /** Persist the newest report of every node (those not written yet, see PERSIST_EVERY_MS); idempotent. */
  async stop (): Promise<void> {
    const ops = [...this.entries].filter(([id, e]) => (this.persistedAt.get(id) ?? 0) < e.receivedAt)
      .map(([id, e]) => ({ type: 'put' as const, table: T_PEERS, key: id, value: e }))
    for (const [id, e] of this.entries) this.persistedAt.set(id, e.receivedAt)
    if (ops.length > 0) await this.meta.batch(ops)
  }

  /** Take a verified report; false if it is not newer than the one held (a replay or reordering). */
  async update (report: LoadReport): Promise<boolean> {
    const prev = this.entries.get(report.node)
    if (prev != null && (report.at < prev.report.at || (report.at === prev.report.at && report.seq <= prev.report.seq))) return false
    const entry = { report, receivedAt: this.now() }
    this.entries.set(report.node, entry)
    const last = this.persistedAt.get(report.node) ?? 0
    if (prev == null || prev.report.state !== report.state || entry.receivedAt - last > PERSIST_EVERY_MS) {
      this.persistedAt.set(report.node, entry.receivedAt)
      await this.meta.batch([{ type: 'put', table: T_PEERS, key: report.node, value: entry }])
    }
    return true
  }

  get (peerId: string): PeerEntry | undefined {
    return this.entries.get(peerId)
  }

  /** every address peers reported, for dialing at start */
  knownAddrs (): string[] {
    return [...this.entries.values()].filter(e => e.report.state !== 'gone').flatMap(e => e.report.addrs)
  }

  /** every node heard from; `revoked` tells a key an admin revoked (it is cut off, not merely unreachable) */
  view (selfId: string, revoked: (peerId: string) => boolean = () => false): PeerView[] {
    const now = this.now()
    const silent = silentAfterMs(this.entries.size)
    return [...this.entries.values()].map(({ report: r, receivedAt }): PeerView => {
      const age = Math.max(0, now - receivedAt)
      const stale = r.node !== selfId && r.state !== 'gone' && age > silent
      return {
        peerId: r.node,
        addrs: r.addrs,
        state: revoked(r.node) ? 'revoked' : stale ? 'unreachable' : r.state,
        labels: r.labels,
        load: { load1: r.load1, cores: r.cores, memFreeBytes: r.memFreeBytes, slotsFree: r.slotsFree },
        slots: r.slots,
        running: r.running,
        reportAgeMs: r.node === selfId ? 0 : age,
        self: r.node === selfId
      }
    }).sort((a, b) => a.peerId.localeCompare(b.peerId))
  }
}
