import { FrameReader, abortReason, writeFrame } from '../codec/frames.js'
import { IngestFailedError, SYNC_ERRORS } from './errors.js'
import { encodeRequest, parsePage } from './messages.js'
import type { Ingest, SyncMark, SyncResult } from './types.js'
import type { Stream } from '@libp2p/interface'

export interface PullLimits {
  pageItems: number
  maxResponseBytes: number
  frameTimeoutMs: number
  maxPages: number
}

export interface PullContext {
  peer: string
  /** where the last session with this peer stopped */
  mark: SyncMark | undefined
  ingest: Ingest
  /** store progress; called after each page's records were ingested */
  saveMark: (mark: SyncMark) => Promise<void>
  /** called after each page (counters) */
  onPage?: (items: number) => void
  limits: PullLimits
  signal: AbortSignal
}

/**
 * Pull pages from the peer on an outbound stream, handing each record to `ingest` and storing
 * the mark after every page, until the peer has no more or the page limit is reached.
 * Throws typed errors (ERR_MALFORMED, ERR_TOO_LARGE, ERR_TIMEOUT, ERR_REMOTE, ERR_INGEST,
 * ERR_ABORTED); the caller resets the stream.
 */
export async function pullSession (stream: Stream, ctx: PullContext): Promise<SyncResult> {
  const { limits, signal } = ctx
  const reader = new FrameReader(stream, SYNC_ERRORS)
  let logId = ctx.mark?.logId
  let after = ctx.mark?.seq ?? 0
  let pages = 0
  let items = 0
  let more = false
  while (pages < limits.maxPages) {
    const req = logId === undefined ? { after, limit: limits.pageItems } : { logId, after, limit: limits.pageItems }
    await writeFrame(stream, encodeRequest(req), signal, SYNC_ERRORS)
    const frame = await reader.read(limits.maxResponseBytes, limits.frameTimeoutMs, signal)
    // the server may end a session at its own page limit; the next sync continues from the mark
    if (frame === undefined) break
    const page = parsePage(frame, limits.maxResponseBytes, req)
    for (const item of page.items) {
      if (signal.aborted) throw abortReason(signal, SYNC_ERRORS.aborted)
      try {
        await ctx.ingest(item, ctx.peer)
      } catch (err) {
        throw new IngestFailedError({ cause: err })
      }
    }
    logId = page.logId
    after = page.next
    await ctx.saveMark({ logId, seq: after })
    pages++
    items += page.items.length
    ctx.onPage?.(page.items.length)
    more = page.more
    if (!more) break
  }
  await stream.close({ signal }).catch(() => {})
  return { pages, items, more }
}
