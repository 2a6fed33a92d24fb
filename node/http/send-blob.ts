import { Readable } from 'node:stream'
import { HttpError } from './errors.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ControlHandlers } from '../control/types.js'

/** how long a request waits for a blob to be fetched from its holders before answering 503 */
export const BLOB_FETCH_TIMEOUT_MS = 60_000

/** A byte range [start, end) of a body of `size` bytes. */
export interface ByteRange { start: number, end: number }

/**
 * The range a `Range` header asks for: undefined for none (or one this server ignores: several
 * ranges, another unit, a malformed header, as RFC 9110 allows); 'unsatisfiable' for a range
 * wholly past the end.
 */
export function parseRange (header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header == null) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m == null || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    // the last N bytes
    const n = Number(m[2])
    if (n === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size }
  }
  const start = Number(m[1])
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable'
  if (last < start) return undefined
  return { start, end: last + 1 }
}

/**
 * Answer with a blob: `ETag` is its sha256, `Content-Length` its size (or the range's),
 * `Range` gives 206 with `Content-Range`, `If-None-Match` with its hash gives 304.
 */
export async function sendBlob (req: FastifyRequest, reply: FastifyReply, handlers: Pick<ControlHandlers, 'blob'>, hash: string, options: { type?: string, filename?: string, signal: AbortSignal }): Promise<FastifyReply> {
  const etag = `"${hash}"`
  void reply.header('etag', etag).header('accept-ranges', 'bytes').header('cache-control', 'public, max-age=31536000, immutable')
  if (options.filename != null) void reply.header('content-disposition', `attachment; filename="${options.filename.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
  void reply.type(options.type ?? 'application/octet-stream')
  const inm = req.headers['if-none-match']
  if (inm?.split(',').map(s => s.trim().replace(/^W\//, '')).some(t => t === etag || t === '*')) {
    return await reply.code(304).send()
  }
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(BLOB_FETCH_TIMEOUT_MS)])
  const whole = await fetchOrExplain(handlers, hash, {}, signal)
  const range = req.headers['if-range'] != null && req.headers['if-range'] !== etag ? undefined : parseRange(req.headers.range, whole.size)
  if (range === 'unsatisfiable') {
    throw new HttpError('ERR_RANGE_NOT_SATISFIABLE', `the range is outside the ${whole.size} bytes of ${hash}`, { 'content-range': `bytes */${whole.size}` })
  }
  if (range == null) {
    void reply.header('content-length', String(whole.size))
    // HEAD: the headers only (an empty stream keeps the length set above)
    return await reply.code(200).send(req.method === 'HEAD' ? Readable.from([]) : Readable.from(whole.stream))
  }
  // the whole read above was never started: read only the range (the blob was verified whole)
  const part = await handlers.blob(hash, { start: range.start, end: range.end, signal: options.signal })
  void reply.header('content-length', String(range.end - range.start))
  void reply.header('content-range', `bytes ${range.start}-${range.end - 1}/${whole.size}`)
  return await reply.code(206).send(req.method === 'HEAD' ? Readable.from([]) : Readable.from(part.stream))
}

async function fetchOrExplain (handlers: Pick<ControlHandlers, 'blob'>, hash: string, range: { start?: number, end?: number }, signal: AbortSignal): Promise<{ size: number, stream: AsyncIterable<Uint8Array> }> {
  try {
    return await handlers.blob(hash, { ...range, signal })
  } catch (err: any) {
    if (signal.aborted && err?.code !== 'ERR_BLOB_NOT_FOUND') {
      throw new HttpError('ERR_UNREACHABLE', `blob ${hash} is not on this node and no member holding it answered in time`)
    }
    throw err
  }
}
