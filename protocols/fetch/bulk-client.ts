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
import { BULK_MAX_REPLY_BYTES, BULK_RECORD_BYTES, FETCH_BULK_PROTOCOL, FETCH_FRAME_TIMEOUT_MS, FETCH_REQUEST_TIMEOUT_MS } from './constants.js'
import {
  FETCH_ERRORS, FetchBulkUnavailableError, FetchResetError, FetchSizeMismatchError, FetchTimeoutError, FetchTruncatedError, InvalidFetchArgumentError
} from './errors.js'
import { RECORD_HEADER_BYTES, TAG_BYTES, helloProof, parseBulkReply, recordDecipher } from './bulk-wire.js'
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
    const socket = await dialBulk(host, ticket.port, frameTimeoutMs, signal)
    try {
      socket.write(Buffer.concat([ticket.ticket, helloProof(ticket.key, ticket.ticket)]))
      const bytes = await readRecords(socket, ticket.key, ticket.ticket, want, sink, frameTimeoutMs, signal)
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

async function dialBulk (host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true })
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

/**
 * Read `want` bytes in sealed records from the socket, each handed to `sink` once authenticated.
 * The socket is not read while the sink works, so TCP paces the holder.
 */
export async function readRecords (
  socket: Socket, key: Uint8Array, ticket: Uint8Array, want: number, sink: FetchSink, frameTimeoutMs: number, signal: AbortSignal
): Promise<number> {
  let failure: Error | undefined
  const fail = (err: Error): void => {
    failure ??= err
    socket.destroy()
  }
  const onAbort = (): void => { fail(abortReason(signal, FETCH_ERRORS.aborted)) }
  signal.addEventListener('abort', onAbort, { once: true })
  socket.setTimeout(frameTimeoutMs, () => { fail(new FetchTimeoutError('nothing from the holder within the read deadline')) })
  socket.on('error', () => {})
  let sinkFailed = false
  let received = 0
  let index = 0
  // the record being read: its header, then its ciphertext, then its tag
  const head = Buffer.alloc(RECORD_HEADER_BYTES)
  let headHave = 0
  let length = -1
  let bodyHave = 0
  const tag = Buffer.alloc(TAG_BYTES)
  let tagHave = 0
  let decipher = recordDecipher(key, ticket, index)
  let plain: Buffer[] = []
  try {
    for await (const data of socket as AsyncIterable<Buffer>) {
      let off = 0
      while (off < data.byteLength) {
        if (length < 0) {
          const n = Math.min(RECORD_HEADER_BYTES - headHave, data.byteLength - off)
          data.copy(head, headHave, off, off + n)
          headHave += n
          off += n
          if (headHave < RECORD_HEADER_BYTES) continue
          length = head.readUInt32BE(0)
          if (length === 0 || length > BULK_RECORD_BYTES || length > want - received) throw new MalformedMessageError(`a bulk record of ${length} bytes where at most ${Math.min(BULK_RECORD_BYTES, want - received)} fit`)
        } else if (bodyHave < length) {
          const n = Math.min(length - bodyHave, data.byteLength - off)
          plain.push(decipher.update(data.subarray(off, off + n)))
          bodyHave += n
          off += n
        } else {
          const n = Math.min(TAG_BYTES - tagHave, data.byteLength - off)
          data.copy(tag, tagHave, off, off + n)
          tagHave += n
          off += n
          if (tagHave < TAG_BYTES) continue
          decipher.setAuthTag(tag)
          try {
            plain.push(decipher.final())
          } catch (err) {
            throw new MalformedMessageError('a bulk record did not authenticate: altered, dropped or out of order', { cause: err })
          }
          const record = plain.length === 1 ? plain[0] : Buffer.concat(plain)
          plain = []
          try {
            await sink(record)
          } catch (err) {
            sinkFailed = true
            throw err
          }
          received += record.byteLength
          index++
          decipher = recordDecipher(key, ticket, index)
          headHave = 0
          length = -1
          bodyHave = 0
          tagHave = 0
          if (received === want && off < data.byteLength) throw new MalformedMessageError('bytes after the end of the range')
        }
      }
      if (received === want) break
    }
  } catch (err) {
    if (failure != null) throw failure
    // a sink's own error (a full disk) goes to the caller as it is
    if (sinkFailed || err instanceof ProtocolError) throw err
    throw new FetchResetError({ cause: err })
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  if (failure != null) throw failure
  if (received < want) throw new FetchTruncatedError(received, want)
  return received
}
