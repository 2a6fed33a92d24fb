import { peerIdFromString } from '@libp2p/peer-id'
import { MalformedMessageError, ProtocolError } from '../codec/errors.js'
import { parseHash } from '../../store/blobs/hash.js'
import {
  FETCH_ACK_BYTES, FETCH_FRAME_TIMEOUT_MS, FETCH_MAX_HEADER_BYTES, FETCH_MAX_WINDOW_BYTES, FETCH_PROTOCOL, FETCH_REQUEST_TIMEOUT_MS,
  FETCH_WINDOW_BYTES
} from './constants.js'
import { FETCH_ERRORS, FetchSizeMismatchError, FetchTimeoutError, FetchTruncatedError, FetchUnreachableError, InvalidFetchArgumentError } from './errors.js'
import { encodeCredit, encodeRequest, parseHeader } from './messages.js'
import { abortReason, FrameReader, writeFrame } from '../codec/frames.js'
import type { FetchRequest } from './messages.js'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'

/** receives the range's bytes in order; the next credit is granted only after it resolves */
export type FetchSink = (chunk: Uint8Array) => void | Promise<void>

export interface FetchRangeOptions {
  signal?: AbortSignal
  /** bytes the holder may have in flight (default FETCH_WINDOW_BYTES, at most FETCH_MAX_WINDOW_BYTES) */
  windowBytes?: number
  /** grant more credit after consuming this many bytes (default FETCH_ACK_BYTES) */
  ackBytes?: number
  /** longest wait for the header or for the next data (default FETCH_FRAME_TIMEOUT_MS) */
  frameTimeoutMs?: number
  /** the whole request at most (default FETCH_REQUEST_TIMEOUT_MS) */
  timeoutMs?: number
  /** the blob's size as the caller knows it: a holder whose copy differs fails with ERR_SIZE_MISMATCH before any data */
  expectedSize?: number
}

export interface FetchRangeResult {
  /** the blob's whole size, as the holder reported it */
  size: number
  /** bytes handed to the sink */
  bytes: number
}

interface Checked { window: number, ack: number, frameTimeoutMs: number, timeoutMs: number }

function positive (value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidFetchArgumentError(`fetchRange: ${name} must be a positive integer, got ${String(value)}`)
  return v
}

function checkArgs (start: number, end: number | undefined, options: FetchRangeOptions): Checked {
  if (!Number.isSafeInteger(start) || start < 0) throw new InvalidFetchArgumentError(`fetchRange: start must be a non-negative integer, got ${String(start)}`)
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) throw new InvalidFetchArgumentError(`fetchRange: end must be an integer >= start, got ${String(end)}`)
  const window = positive(options.windowBytes, FETCH_WINDOW_BYTES, 'windowBytes')
  if (window > FETCH_MAX_WINDOW_BYTES) throw new InvalidFetchArgumentError(`fetchRange: windowBytes may be at most ${FETCH_MAX_WINDOW_BYTES}`)
  const ack = positive(options.ackBytes, FETCH_ACK_BYTES, 'ackBytes')
  if (ack > window) throw new InvalidFetchArgumentError('fetchRange: ackBytes may not exceed windowBytes')
  return {
    window,
    ack,
    frameTimeoutMs: positive(options.frameTimeoutMs, FETCH_FRAME_TIMEOUT_MS, 'frameTimeoutMs'),
    timeoutMs: positive(options.timeoutMs, FETCH_REQUEST_TIMEOUT_MS, 'timeoutMs')
  }
}

/**
 * Fetch bytes `start`..`end` (exclusive; `undefined` = to the end) of blob `hash` from `peer`,
 * handing them to `sink` in order. The bytes are NOT verified here: a range cannot be checked
 * against the hash of the whole; whoever assembles the blob verifies it.
 * A zero-length range (`end === start`) asks only for the header: it tells whether the peer
 * holds the blob and its size. Rejects with ERR_REMOTE (`remoteCode`: ERR_NOT_FOUND,
 * ERR_NOT_ALLOWED, ERR_BUSY, …), ERR_SIZE_MISMATCH, ERR_TRUNCATED, ERR_MALFORMED, ERR_TOO_LARGE,
 * ERR_TIMEOUT, ERR_ABORTED, ERR_UNREACHABLE, ERR_INVALID_ARGUMENT, ERR_INVALID_HASH, or the sink's own error.
 */
export async function fetchRange (
  libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId | string, hash: string, start: number, end: number | undefined,
  sink: FetchSink, options: FetchRangeOptions = {}
): Promise<FetchRangeResult> {
  const req: FetchRequest = end === undefined ? { hash: parseHash(hash), start } : { hash: parseHash(hash), start, end }
  const limits = checkArgs(start, end, options)
  const peerId = typeof peer === 'string' ? peerIdFromString(peer) : peer
  const deadline = new AbortController()
  const timer = setTimeout(() => { deadline.abort(new FetchTimeoutError('the fetch request ran out of time')) }, limits.timeoutMs)
  const signal = options.signal == null ? deadline.signal : AbortSignal.any([options.signal, deadline.signal])
  let stream: Stream | undefined
  try {
    stream = await openStream(libp2p, peerId, signal)
    return await exchange(stream, req, sink, limits, options.expectedSize, signal)
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  } finally {
    clearTimeout(timer)
  }
}

async function openStream (libp2p: Pick<Libp2p, 'dialProtocol'>, peerId: PeerId, signal: AbortSignal): Promise<Stream> {
  try {
    return await libp2p.dialProtocol(peerId, FETCH_PROTOCOL, { signal })
  } catch (err) {
    if (signal.aborted) throw abortReason(signal, FETCH_ERRORS.aborted)
    throw new FetchUnreachableError(peerId.toString(), { cause: err })
  }
}

async function exchange (
  stream: Stream, req: FetchRequest, sink: FetchSink, limits: Checked, expectedSize: number | undefined, signal: AbortSignal
): Promise<FetchRangeResult> {
  const reader = new FrameReader(stream, FETCH_ERRORS)
  // the request and the first credit go out together: the holder can start at once
  let granted = req.end === undefined ? limits.window : Math.min(limits.window, req.end - req.start)
  await writeFrame(stream, encodeRequest(req), signal, FETCH_ERRORS)
  if (granted > 0) await writeFrame(stream, encodeCredit(granted), signal, FETCH_ERRORS)
  const frame = await reader.read(FETCH_MAX_HEADER_BYTES, limits.frameTimeoutMs, signal)
  if (frame === undefined) throw new MalformedMessageError('the holder closed the stream without a reply')
  let size: number
  try {
    size = parseHeader(frame, FETCH_MAX_HEADER_BYTES).size
  } catch (err) {
    // an error reply is a clean answer: close rather than reset
    if (err instanceof ProtocolError && err.code === 'ERR_REMOTE') await stream.close({ signal }).catch(() => {})
    throw err
  }
  if (expectedSize !== undefined && size !== expectedSize) throw new FetchSizeMismatchError(expectedSize, size)
  const end = req.end ?? size
  if (end > size) throw new MalformedMessageError(`the holder accepted range ${req.start}-${end} of a ${size}-byte blob`)
  const want = end - req.start
  let received = 0
  while (received < want) {
    const chunk = await reader.bytes(want - received, limits.frameTimeoutMs, signal)
    if (chunk === undefined) throw new FetchTruncatedError(received, want)
    await sink(chunk)
    received += chunk.byteLength
    // top the window up once a whole ack's worth has been consumed, never past what is wanted
    const outstanding = granted - received
    if (granted < want && outstanding <= limits.window - limits.ack) {
      const credit = Math.min(limits.window - outstanding, want - granted)
      granted += credit
      await writeFrame(stream, encodeCredit(credit), signal, FETCH_ERRORS)
    }
  }
  await stream.close({ signal }).catch(() => {})
  return { size, bytes: received }
}
