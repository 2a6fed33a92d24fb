import { ProtocolError } from '../codec/errors.js'
import { FrameReader, writeFrame } from '../codec/frames.js'
import { SYNC_ERRORS } from './errors.js'
import { encodeErrorReply, encodePage, parseRequest } from './messages.js'
import type { SyncPage, SyncRequest } from './messages.js'
import type { RecordLog } from './types.js'
import type { Stream } from '@libp2p/interface'

export interface ServeLimits {
  maxPageItems: number
  maxPageBytes: number
  maxItemBytes: number
  maxRequestBytes: number
  frameTimeoutMs: number
  maxPages: number
}

/** the local log could not be read: the peer got an ERR_INTERNAL reply */
export class ServeFailedError extends ProtocolError {
  constructor (options: { cause: unknown }) {
    super('ERR_INTERNAL', 'reading the record log for a sync peer failed', options)
    this.name = 'ServeFailedError'
  }
}

/** Build the page answering `req`; records over the item limit are passed over (and reported). */
export async function buildPage (
  log: RecordLog, req: SyncRequest, limits: ServeLimits, onSkip: (seq: number, size: number) => void
): Promise<SyncPage> {
  const logId = log.logId
  // a client that names another log id holds a mark into a log this node no longer has
  const after = req.logId !== undefined && req.logId !== logId ? 0 : req.after
  const limit = Math.min(req.limit, limits.maxPageItems)
  const { items, lastSeq } = await log.readAfter(after, limit, limits.maxPageBytes)
  const out: Uint8Array[] = []
  let size = 0
  let next = after
  for (const item of items.slice(0, limit)) {
    if (item.seq <= next) continue
    if (item.bytes.byteLength > limits.maxItemBytes) {
      onSkip(item.seq, item.bytes.byteLength)
      next = item.seq
      continue
    }
    // the log's own byte limit is advisory here: the page must fit the client's frame limit
    if (out.length > 0 && size + item.bytes.byteLength > limits.maxPageBytes) break
    out.push(item.bytes)
    size += item.bytes.byteLength
    next = item.seq
  }
  return { logId, items: out, next, more: next > after && next < lastSeq }
}

/**
 * Serve one sync session on an inbound stream: answer requests until the client closes its
 * side, the page limit is reached, or something goes wrong. Throws typed errors (ERR_MALFORMED,
 * ERR_TOO_LARGE, ERR_TIMEOUT, ERR_ABORTED, ERR_INTERNAL); the caller resets the stream.
 */
export async function serveSession (
  stream: Stream, log: RecordLog, limits: ServeLimits, signal: AbortSignal,
  onSkip: (seq: number, size: number) => void = () => {}
): Promise<{ pages: number, items: number }> {
  const reader = new FrameReader(stream, SYNC_ERRORS)
  let pages = 0
  let items = 0
  while (pages < limits.maxPages) {
    const frame = await reader.read(limits.maxRequestBytes, limits.frameTimeoutMs, signal)
    if (frame === undefined) break
    const req = parseRequest(frame, limits.maxRequestBytes)
    let page: SyncPage
    try {
      page = await buildPage(log, req, limits, onSkip)
    } catch (err) {
      await writeFrame(stream, encodeErrorReply('ERR_INTERNAL'), signal, SYNC_ERRORS)
      await stream.close({ signal }).catch(() => {})
      throw new ServeFailedError({ cause: err })
    }
    await writeFrame(stream, encodePage(page), signal, SYNC_ERRORS)
    pages++
    items += page.items.length
  }
  // close() can reject with a non-Error event object; the session's work is done either way
  await stream.close({ signal }).catch(() => {})
  return { pages, items }
}
