import { randomBytes } from 'node:crypto'
import type { MetaOp, MetaStore } from './meta-store.js'

const T_LOG = 'log'
const T_INDEX = 'log-index'
const T_INFO = 'log-info'

function pad (n: number): string {
  return String(n).padStart(15, '0')
}

/** one record of the log */
export interface LogItem {
  seq: number
  bytes: Uint8Array
}

/**
 * An append-only log of every signed record this node holds (announcements, events, trust
 * records), numbered by a local sequence. Peers pull from it by sequence to catch up on what
 * gossip did not bring them. `logId` is random per database, so a peer notices a wiped log.
 * Appends join the caller's batch, so a record and its log entry land together.
 *
 * Most appends are not synced: a power cut can lose the tail a peer has already pulled, and the
 * numbers would then be given to other records a peer would never pull. So a log that was not
 * stopped cleanly takes a new `logId` at its next start, and every peer pulls it again from the
 * beginning (records it has are recognised by hash and cost only the transfer).
 */
export class RecordLog {
  private next = 1
  private id = ''
  private started = false
  /** this start gave the log a new id (the last process did not stop cleanly) */
  renewed = false

  constructor (private readonly meta: MetaStore) {}

  async start (): Promise<void> {
    const info = this.meta.table<{ logId: string }>(T_INFO)
    let stored = await info.get('id')
    if (stored == null) {
      stored = { logId: randomBytes(16).toString('hex') }
      await this.meta.batch([{ type: 'put', table: T_INFO, key: 'id', value: stored }], { sync: true })
    }
    if (await info.get('open') != null) {
      // the last process did not stop cleanly: what peers pulled may be gone, and its numbers reused
      stored = { logId: randomBytes(16).toString('hex') }
      this.renewed = true
    }
    await this.meta.batch([
      { type: 'put', table: T_INFO, key: 'id', value: stored },
      { type: 'put', table: T_INFO, key: 'open', value: { logId: stored.logId } }
    ], { sync: true })
    this.id = stored.logId
    for await (const key of this.meta.table(T_LOG).keys({ reverse: true, limit: 1 })) this.next = Number(key) + 1
    this.started = true
  }

  /** marks the log as stopped cleanly (its id is kept at the next start); idempotent */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.meta.batch([{ type: 'del', table: T_INFO, key: 'open' }], { sync: true })
  }

  get logId (): string { return this.id }
  get lastSeq (): number { return this.next - 1 }

  /** whether a record with this hash is already in the log */
  async has (hash: string): Promise<boolean> {
    return await this.meta.table(T_INDEX).has(hash)
  }

  /**
   * The writes that append a record; the caller commits them in its own batch. Sequence numbers
   * are taken in memory: a batch that fails leaves a gap, which readers pass over.
   */
  appendOps (hash: string, bytes: Uint8Array): MetaOp[] {
    const seq = this.next++
    return [
      { type: 'put', table: T_LOG, key: pad(seq), value: bytes },
      { type: 'put', table: T_INDEX, key: hash, value: seq }
    ]
  }

  /** records after `seq`, at most `limit` of them and about `maxBytes` (always at least one) */
  async readAfter (seq: number, limit: number, maxBytes: number): Promise<{ items: LogItem[], lastSeq: number }> {
    const items: LogItem[] = []
    let size = 0
    for await (const [key, bytes] of this.meta.table<Uint8Array>(T_LOG).entries({ gt: pad(seq), limit })) {
      if (items.length > 0 && size + bytes.byteLength > maxBytes) break
      items.push({ seq: Number(key), bytes })
      size += bytes.byteLength
    }
    return { items, lastSeq: this.lastSeq }
  }
}
