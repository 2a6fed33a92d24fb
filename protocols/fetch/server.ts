import { MalformedMessageError, ProtocolError } from '../codec/errors.js'
import { FETCH_MAX_CREDIT_BYTES, FETCH_MAX_REQUEST_BYTES } from './constants.js'
import { CreditGate } from './credit.js'
import { FETCH_ERRORS, FetchResetError, FetchTimeoutError } from './errors.js'
import { encodeHeader, parseCredit, parseRequest } from './messages.js'
import { abortReason, FrameReader, writeFrame } from '../codec/frames.js'
import type { FetchErrorCode, FetchRequest } from './messages.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Stream } from '@libp2p/interface'

export interface ServeLimits {
  frameTimeoutMs: number
  maxWindowBytes: number
}

export interface ServeContext {
  blobs: Pick<BlobStore, 'stat' | 'get'>
  limits: ServeLimits
  /** the request's deadline and the service's stop */
  signal: AbortSignal
  /** called as data is handed to the stream (counters) */
  onBytes?: (bytes: number) => void
  /**
   * Refuse with this code once the request is read (no read role, too busy). The request is
   * read first so the reply follows it, as every other reply does.
   */
  refusal?: FetchErrorCode
}

/**
 * The request was refused with an error reply, already sent and the stream closed: `code` is what
 * the peer was told, `cause` why (ERR_INTERNAL's cause is the store's error).
 */
export class FetchRefusedError extends ProtocolError {
  constructor (readonly replyCode: FetchErrorCode, options?: { cause?: unknown }) {
    super(replyCode, `fetch request refused: ${replyCode}`, options)
    this.name = 'FetchRefusedError'
  }
}

/** the blob could not be read: the peer got ERR_INTERNAL, or a reset mid-transfer */
export class ServeFailedError extends ProtocolError {
  constructor (options: { cause: unknown }) {
    super('ERR_INTERNAL', 'reading a blob for a fetch peer failed', options)
    this.name = 'ServeFailedError'
  }
}

/** send an error header and close: the peer learns the status and nothing else */
export async function refuse (stream: Stream, code: FetchErrorCode, signal: AbortSignal): Promise<void> {
  await writeFrame(stream, encodeHeader({ ok: false, error: code }), signal, FETCH_ERRORS)
  // close() can reject with a non-Error event object; the peer has its answer either way
  await stream.close({ signal }).catch(() => {})
}

/** the reply code for a failed request read: what the peer did wrong, in its own terms */
function requestErrorCode (err: unknown): FetchErrorCode | undefined {
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ERR_TOO_LARGE') return 'ERR_TOO_LARGE'
  if (code === 'ERR_MALFORMED') return 'ERR_MALFORMED'
  return undefined
}

export async function readRequest (reader: FrameReader, stream: Stream, ctx: ServeContext): Promise<FetchRequest> {
  try {
    const frame = await reader.read(FETCH_MAX_REQUEST_BYTES, ctx.limits.frameTimeoutMs, ctx.signal)
    if (frame === undefined) throw new MalformedMessageError('stream ended before a request')
    return parseRequest(frame, FETCH_MAX_REQUEST_BYTES)
  } catch (err) {
    const code = requestErrorCode(err)
    if (code == null) throw err
    await refuse(stream, code, ctx.signal)
    throw new FetchRefusedError(code, { cause: err })
  }
}

/** the blob's size; refuses ERR_NOT_FOUND / ERR_INVALID_RANGE / ERR_INTERNAL and throws if it cannot serve */
export async function sizeFor (req: FetchRequest, stream: Stream, ctx: ServeContext): Promise<number> {
  let size: number
  try {
    size = (await ctx.blobs.stat(req.hash)).size
  } catch (err) {
    const notFound = (err as { code?: unknown }).code === 'ERR_BLOB_NOT_FOUND'
    await refuse(stream, notFound ? 'ERR_NOT_FOUND' : 'ERR_INTERNAL', ctx.signal)
    throw new FetchRefusedError(notFound ? 'ERR_NOT_FOUND' : 'ERR_INTERNAL', { cause: err })
  }
  const end = req.end ?? size
  if (req.start > end || end > size) {
    await refuse(stream, 'ERR_INVALID_RANGE', ctx.signal)
    throw new FetchRefusedError('ERR_INVALID_RANGE')
  }
  return size
}

/** read credit frames until the client closes its side; every grant goes to the gate */
async function readCredit (reader: FrameReader, gate: CreditGate, signal: AbortSignal): Promise<void> {
  try {
    for (;;) {
      // no read deadline here: a client with enough credit has no reason to speak; the
      // sender's wait for credit is what has the deadline
      const frame = await reader.read(FETCH_MAX_CREDIT_BYTES, Infinity, signal)
      if (frame === undefined) {
        gate.fail(new MalformedMessageError('the client closed its side with data still to send'))
        return
      }
      gate.grant(parseCredit(frame, FETCH_MAX_CREDIT_BYTES))
    }
  } catch (err) {
    gate.fail(err instanceof ProtocolError ? err : signal.aborted ? abortReason(signal, FETCH_ERRORS.aborted) : new FetchResetError({ cause: err }))
  }
}

/**
 * Serve one fetch request on an inbound stream: read the request, refuse it if the caller said
 * so (`refusal`), answer the header, then send the range as credit allows, and close.
 * Throws typed errors (ERR_MALFORMED, ERR_TOO_LARGE, ERR_TIMEOUT, ERR_ABORTED, ERR_WINDOW, the
 * refused codes, ERR_INTERNAL); the caller resets the stream if it is still open.
 */
export async function serveRequest (stream: Stream, ctx: ServeContext): Promise<{ hash: string, bytes: number }> {
  const { signal, limits } = ctx
  const reader = new FrameReader(stream, FETCH_ERRORS)
  const req = await readRequest(reader, stream, ctx)
  if (ctx.refusal != null) {
    await refuse(stream, ctx.refusal, signal)
    throw new FetchRefusedError(ctx.refusal)
  }
  const size = await sizeFor(req, stream, ctx)
  const end = req.end ?? size
  await writeFrame(stream, encodeHeader({ ok: true, size }), signal, FETCH_ERRORS)

  const gate = new CreditGate(limits.maxWindowBytes)
  const credit = new AbortController()
  const creditDone = readCredit(reader, gate, AbortSignal.any([signal, credit.signal]))
  let sent = 0
  try {
    try {
      // a header-only request (a probe) does not open the blob at all
      const chunks = end > req.start ? ctx.blobs.get(req.hash, { start: req.start, end, signal }) : []
      for await (const chunk of chunks) {
        for (let off = 0; off < chunk.byteLength;) {
          await gate.waitForCredit(limits.frameTimeoutMs, signal)
          const n = Math.min(gate.available, chunk.byteLength - off)
          gate.spend(n)
          const piece = chunk.subarray(off, off + n)
          off += n
          sent += n
          ctx.onBytes?.(n)
          if (!stream.send(piece)) await drain(stream, limits.frameTimeoutMs, signal)
        }
      }
    } catch (err) {
      if (err instanceof ProtocolError) throw err
      // the client went away (it reset, or its connection closed): not our failure
      if (stream.status !== 'open') throw new FetchResetError({ cause: err })
      // the store failed under us (file gone, I/O error, a whole read that did not verify): the
      // peer sees a reset, we log the cause
      throw new ServeFailedError({ cause: err })
    }
    await stream.close({ signal }).catch(() => {})
  } finally {
    credit.abort()
    await creditDone
  }
  return { hash: req.hash, bytes: sent }
}

/** wait for the stream's buffer to drain, within the read deadline */
async function drain (stream: Stream, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = AbortSignal.timeout(timeoutMs)
  try {
    await stream.onDrain({ signal: AbortSignal.any([signal, deadline]) })
  } catch (err) {
    if (signal.aborted) throw abortReason(signal, FETCH_ERRORS.aborted)
    if (deadline.aborted) throw new FetchTimeoutError('the peer took no data within the deadline')
    throw err
  }
}
