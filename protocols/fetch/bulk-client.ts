/**
 * The client's side of the bulk channel: ask for a range over libp2p (`/cit/fetch-bulk/1.0.0`),
 * get a single-use ticket and a key, connect to the holder's bulk port at the address the libp2p
 * connection uses, prove the key, and read the range in AES-256-GCM records. A record reaches the
 * sink only once its tag checks out. Same contract as `fetchRange`; a holder without the bulk
 * channel (or whose port cannot be reached) fails with ERR_BULK_UNAVAILABLE, and the caller falls
 * back to `fetchRange`.
 */
import { connect } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { MalformedMessageError, ProtocolError } from '../codec/errors.js'
import { abortReason, FrameReader, writeFrame } from '../codec/frames.js'
import { parseHash } from '../../store/blobs/hash.js'
import { BULK_MAX_REPLY_BYTES, FETCH_BULK_PROTOCOL, FETCH_FRAME_TIMEOUT_MS, FETCH_REQUEST_TIMEOUT_MS } from './constants.js'
import {
  FETCH_ERRORS, FetchBulkUnavailableError, FetchResetError, FetchSizeMismatchError, FetchTimeoutError, FetchTruncatedError, InvalidFetchArgumentError
} from './errors.js'
import { helloProof, parseBulkReply } from './bulk-wire.js'
import { READ_BUFFER_BYTES, RecordReader, SinkFailure } from './bulk-records.js'
import { encodeRequest } from './messages.js'
import type { FetchRangeOptions, FetchRangeResult, FetchSink } from './client.js'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import type { Socket } from 'node:net'

/**
 * Fetch bytes `start`..`end` (exclusive; `undefined` = to the end) of blob `hash` from `peer`
 * over the bulk channel, handing them to `sink` in order, record by record, each authenticated.
 * The bytes are not checked against the hash here (see `fetchRange`). Rejects as `fetchRange`
 * does, with ERR_BULK_UNAVAILABLE when the holder has no bulk channel for us, and ERR_MALFORMED
 * for a record that does not authenticate.
 */
export async function fetchRangeBulk (
  libp2p: Pick<Libp2p, 'dial'>, peer: PeerId | string, hash: string, start: number, end: number | undefined,
  sink: FetchSink, options: FetchRangeOptions = {}
): Promise<FetchRangeResult> {
  if (!Number.isSafeInteger(start) || start < 0) throw new InvalidFetchArgumentError(`fetchRangeBulk: start must be a non-negative integer, got ${String(start)}`)
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) throw new InvalidFetchArgumentError(`fetchRangeBulk: end must be an integer >= start, got ${String(end)}`)
  const req = end === undefined ? { hash: parseHash(hash), start } : { hash: parseHash(hash), start, end }
  const peerId = typeof peer === 'string' ? peerIdFromString(peer) : peer
  const frameTimeoutMs = options.frameTimeoutMs ?? FETCH_FRAME_TIMEOUT_MS
  const deadline = new AbortController()
  const timer = setTimeout(() => { deadline.abort(new FetchTimeoutError('the fetch request ran out of time')) }, options.timeoutMs ?? FETCH_REQUEST_TIMEOUT_MS)
  const signal = options.signal == null ? deadline.signal : AbortSignal.any([options.signal, deadline.signal])
  try {
    const { ticket, host } = await askTicket(libp2p, peerId, req, frameTimeoutMs, signal)
    if (options.expectedSize !== undefined && ticket.size !== options.expectedSize) throw new FetchSizeMismatchError(options.expectedSize, ticket.size)
    const rangeEnd = req.end ?? ticket.size
    if (rangeEnd > ticket.size) throw new MalformedMessageError(`the holder accepted range ${req.start}-${rangeEnd} of a ${ticket.size}-byte blob`)
    const want = rangeEnd - req.start
    if (want === 0) return { size: ticket.size, bytes: 0 }
    const hook: ReadHook = {}
    const socket = await dialBulk(host, ticket.port, hook, frameTimeoutMs, signal)
    try {
      socket.write(Buffer.concat([ticket.ticket, helloProof(ticket.key, ticket.ticket)]))
      const bytes = await readRecords(socket, ticket.key, ticket.ticket, want, sink, frameTimeoutMs, signal, hook)
      return { size: ticket.size, bytes }
    } finally {
      socket.destroy()
    }
  } finally {
    clearTimeout(timer)
  }
}

interface Ticket { size: number, port: number, ticket: Uint8Array, key: Uint8Array }

async function askTicket (
  libp2p: Pick<Libp2p, 'dial'>, peerId: PeerId, req: { hash: string, start: number, end?: number }, frameTimeoutMs: number, signal: AbortSignal
): Promise<{ ticket: Ticket, host: string }> {
  let connection: Connection
  try {
    connection = await libp2p.dial(peerId, { signal })
  } catch (err) {
    if (signal.aborted) throw abortReason(signal, FETCH_ERRORS.aborted)
    throw new FetchBulkUnavailableError(peerId.toString(), 'the holder cannot be dialled', { cause: err })
  }
  const host = hostOf(connection)
  if (host == null) throw new FetchBulkUnavailableError(peerId.toString(), 'the connection has no IP address')
  let stream
  try {
    stream = await connection.newStream(FETCH_BULK_PROTOCOL, { signal })
  } catch (err) {
    if (signal.aborted) throw abortReason(signal, FETCH_ERRORS.aborted)
    // an older holder, or one that serves no bulk channel
    throw new FetchBulkUnavailableError(peerId.toString(), 'the holder does not speak the bulk protocol', { cause: err })
  }
  try {
    const reader = new FrameReader(stream, FETCH_ERRORS)
    await writeFrame(stream, encodeRequest(req), signal, FETCH_ERRORS)
    const frame = await reader.read(BULK_MAX_REPLY_BYTES, frameTimeoutMs, signal)
    if (frame === undefined) throw new MalformedMessageError('the holder closed the stream without a reply')
    let ticket: Ticket
    try {
      ticket = parseBulkReply(frame, BULK_MAX_REPLY_BYTES)
    } catch (err) {
      if (err instanceof ProtocolError && err.code === 'ERR_REMOTE') await stream.close({ signal }).catch(() => {})
      throw err
    }
    await stream.close({ signal }).catch(() => {})
    return { ticket, host }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

function hostOf (connection: Connection): string | undefined {
  for (const c of connection.remoteAddr.getComponents()) {
    if (c.name === 'ip4' || c.name === 'ip6') return c.value
  }
  return undefined
}

async function dialBulk (host: string, port: number, hook: ReadHook, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    // reads land in one buffer for the whole transfer, not a fresh allocation each
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)
    const socket = connect({ host, port, noDelay: true, onread: { buffer, callback: (n, buf) => hook.onRead?.(buf as Buffer, n) ?? false } })
    const timer = setTimeout(() => { fail(new Error('connect timed out')) }, timeoutMs)
    const onAbort = (): void => { fail(abortReason(signal, FETCH_ERRORS.aborted)) }
    signal.addEventListener('abort', onAbort, { once: true })
    function cleanup (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      socket.off('error', fail)
    }
    function fail (err: unknown): void {
      cleanup()
      socket.destroy()
      reject(err instanceof ProtocolError ? err : new FetchBulkUnavailableError(`${host}:${port}`, 'the bulk port cannot be reached', { cause: err }))
    }
    socket.once('error', fail)
    socket.once('connect', () => {
      cleanup()
      resolve(socket)
    })
  })
}

/** a socket dialled with `onread`: its reads land in one fixed buffer and go to `onRead` */
interface ReadHook { onRead?: (buf: Buffer, n: number) => boolean }

/**
 * Read `want` bytes in sealed records from the socket, each handed to `sink` once authenticated.
 * The socket is not read while the sink works, so TCP paces the holder. A socket dialled with a
 * read hook reads into its fixed buffer; any other is read through its 'data' events.
 */
export async function readRecords (
  socket: Socket, key: Uint8Array, ticket: Uint8Array, want: number, sink: FetchSink, frameTimeoutMs: number, signal: AbortSignal,
  hook?: ReadHook
): Promise<number> {
  const reader = new RecordReader(key, ticket, want, sink)
  return await new Promise<number>((resolve, reject) => {
    let settled = false
    const finish = (err?: unknown): void => {
      if (settled) return
      settled = true
      signal.removeEventListener('abort', onAbort)
      socket.setTimeout(0)
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      if (hook != null) hook.onRead = undefined
      if (err == null) {
        resolve(reader.received)
        return
      }
      socket.destroy()
      // a sink's own error (a full disk) goes to the caller as it is
      reject(err instanceof SinkFailure ? err.err : err)
    }
    /** parse `buf[off..end)`; false while the sink works or once done (the socket must not read on) */
    const take = (buf: Uint8Array, off: number, end: number): boolean => {
      let r
      try {
        r = reader.feed(buf, off, end)
      } catch (err) {
        finish(err)
        return false
      }
      if (r.pending != null) {
        const at = r.off
        r.pending.then(() => {
          if (settled) return
          if (take(buf, at, end)) socket.resume()
        }, finish)
        return false
      }
      if (reader.done) {
        finish()
        return false
      }
      return true
    }
    const onData = (data: Buffer): void => { if (!take(data, 0, data.byteLength)) socket.pause() }
    const onError = (err: Error): void => { finish(new FetchResetError({ cause: err })) }
    const onEnd = (): void => { finish(new FetchTruncatedError(reader.received, want)) }
    const onAbort = (): void => { finish(abortReason(signal, FETCH_ERRORS.aborted)) }
    if (signal.aborted) {
      onAbort()
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    // an error after the range is read must not go unhandled
    socket.on('error', () => {})
    socket.setTimeout(frameTimeoutMs, () => { finish(new FetchTimeoutError('nothing from the holder within the read deadline')) })
    socket.on('error', onError)
    socket.on('end', onEnd)
    socket.on('close', onEnd)
    if (hook != null) hook.onRead = (buf, n) => take(buf, 0, n)
    else socket.on('data', onData)
  })
}
