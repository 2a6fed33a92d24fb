/**
 * Length-prefixed framing, shared by every stream protocol (sync, fetch, attach, join, lease):
 * an unsigned LEB128 varint length (as it-length-prefixed writes it, at most 4 bytes, so under
 * 256 MiB) and then the payload. The reader checks a frame's length against the caller's limit
 * before buffering its body, gives every read a deadline and turns a stream that fails under it
 * into a typed error; a protocol passes its own error classes so its callers keep its codes.
 */
import { MalformedMessageError, MessageTooLargeError, ProtocolError, StreamAbortedError, StreamResetError, StreamTimeoutError } from './errors.js'

/** Length prefixes: unsigned LEB128 varints, at most 4 bytes (< 256 MiB). */
const MAX_PREFIX_BYTES = 4

/** a chunk as a libp2p stream yields it: a Uint8Array or a Uint8ArrayList (which has `subarray()`) */
export type Chunk = Uint8Array | { subarray: () => Uint8Array }

/** the part of a stream a frame writer uses (a libp2p `Stream` fits) */
export interface FrameSink {
  send (data: Uint8Array): boolean
  onDrain (options?: { signal?: AbortSignal }): Promise<void>
}

/** How a protocol words the three ways a read or a write can fail. */
export interface FrameErrors {
  /** the caller's signal fired without a typed reason (ERR_ABORTED) */
  aborted: () => ProtocolError
  /** nothing arrived within the read deadline (ERR_TIMEOUT) */
  timeout: (message: string) => ProtocolError
  /** the stream failed under a read or a write: reset by the peer, or its connection dropped */
  reset: (cause: unknown) => ProtocolError
}

/** the wire layer's own classes: ERR_ABORTED, ERR_TIMEOUT, ERR_RESET */
export const STREAM_ERRORS: FrameErrors = {
  aborted: () => new StreamAbortedError(),
  timeout: message => new StreamTimeoutError(message),
  reset: cause => new StreamResetError({ cause })
}

/**
 * Why a signal was aborted, as a typed error: the reason itself when it is one (deadlines and
 * failures abort with one), else `aborted()` (ERR_ABORTED in the caller's wording).
 */
export function abortReason (signal: AbortSignal, aborted: () => ProtocolError = STREAM_ERRORS.aborted): ProtocolError {
  return signal.reason instanceof ProtocolError ? signal.reason : aborted()
}

/**
 * A signal that never aborts: a read given it and no deadline (Infinity) waits for the stream
 * alone, with no timer, listener or race of its own (a caller that applies both itself, once
 * per stream rather than once per read).
 */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal

/** bytes of the varint prefix for length `n`; RangeError past what a prefix may say */
function varintLength (n: number): number {
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** (7 * MAX_PREFIX_BYTES)) throw new RangeError(`frame length ${n} out of range`)
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4
}

/** writes `n` (of `bytes` prefix bytes) at the start of `out` */
function writeVarint (n: number, bytes: number, out: Uint8Array): void {
  let rest = n
  for (let i = 0; i < bytes - 1; i++) {
    out[i] = (rest & 0x7f) | 0x80
    rest >>>= 7
  }
  out[bytes - 1] = rest
}

export function encodeVarint (n: number): Uint8Array {
  const out = new Uint8Array(varintLength(n))
  writeVarint(n, out.byteLength, out)
  return out
}

/** a frame: varint length, then the payload (one allocation: the prefix is written in place) */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  const n = payload.byteLength
  const prefixBytes = varintLength(n)
  const out = new Uint8Array(prefixBytes + n)
  writeVarint(n, prefixBytes, out)
  out.set(payload, prefixBytes)
  return out
}

/**
 * Send one frame, waiting for the stream to drain if its buffer is full. An aborted signal
 * fails with its reason; a stream that is closed, reset or fails while draining with `reset`.
 */
export async function writeFrame (stream: FrameSink, payload: Uint8Array, signal: AbortSignal, errors: FrameErrors = STREAM_ERRORS): Promise<void> {
  if (signal.aborted) throw abortReason(signal, errors.aborted)
  let ready: boolean
  try {
    ready = stream.send(encodeFrame(payload))
  } catch (err) {
    throw errors.reset(err)
  }
  if (ready) return
  try {
    await stream.onDrain({ signal })
  } catch (err) {
    throw signal.aborted ? abortReason(signal, errors.aborted) : errors.reset(err)
  }
}

/**
 * Reads a stream of length-prefixed frames and, where a protocol switches to raw bytes after a
 * header (fetch), raw data. After an error the reader is dead: the caller resets the stream.
 */
export class FrameReader {
  private readonly source: AsyncIterator<Chunk>
  private readonly errors: FrameErrors
  private chunks: Uint8Array[] = []
  private buffered = 0
  private done = false
  private early?: Promise<IteratorResult<Chunk>>

  constructor (stream: AsyncIterable<Chunk>, errors: FrameErrors = STREAM_ERRORS) {
    this.source = stream[Symbol.asyncIterator]()
    this.errors = errors
    // start reading now: a libp2p stream's iterator only listens once it runs, and an end of
    // stream that arrives before then is never reported to it
    this.early = this.source.next()
    this.early.catch(() => {})
  }

  /**
   * The next frame's payload, or undefined if the stream ended cleanly between frames. Throws
   * ERR_TOO_LARGE, ERR_MALFORMED (bad prefix, stream ended inside a frame), and the protocol's
   * ERR_TIMEOUT, ERR_ABORTED and reset errors. `timeoutMs` may be Infinity.
   */
  async read (maxBytes: number, timeoutMs: number, signal: AbortSignal): Promise<Uint8Array | undefined> {
    const deadline = Date.now() + timeoutMs
    let prefix = this.parsePrefix()
    while (prefix == null) {
      if (!await this.pull(deadline, signal)) {
        if (this.buffered === 0) return undefined
        throw new MalformedMessageError('stream ended inside a frame length')
      }
      prefix = this.parsePrefix()
    }
    const { length, prefixBytes } = prefix
    if (length > maxBytes) throw new MessageTooLargeError(length, maxBytes)
    while (this.buffered < prefixBytes + length) {
      if (!await this.pull(deadline, signal)) throw new MalformedMessageError('stream ended inside a frame')
    }
    this.take(prefixBytes)
    return this.take(length)
  }

  /**
   * Up to `maxBytes` raw bytes: what is buffered, else the next chunk to arrive. Undefined at the
   * end of the stream. Throws the protocol's ERR_TIMEOUT, ERR_ABORTED and reset errors.
   */
  async bytes (maxBytes: number, timeoutMs: number, signal: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.buffered === 0 && !await this.pull(Date.now() + timeoutMs, signal)) return undefined
    return this.take(Math.min(maxBytes, this.chunks[0].byteLength))
  }

  /** the length prefix at the front of the buffer, once complete */
  private parsePrefix (): { length: number, prefixBytes: number } | undefined {
    let length = 0
    let i = 0
    for (const chunk of this.chunks) {
      for (const byte of chunk) {
        length += (byte & 0x7f) * 2 ** (7 * i)
        i++
        if ((byte & 0x80) === 0) return { length, prefixBytes: i }
        if (i >= MAX_PREFIX_BYTES) throw new MalformedMessageError('frame length prefix is too long')
      }
    }
    return undefined
  }

  /** one more non-empty chunk into the buffer; false at the end of the stream */
  private async pull (deadline: number, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (this.done) return false
      if (signal.aborted) throw abortReason(signal, this.errors.aborted)
      const result = await this.next(deadline, signal)
      if (result.done === true) {
        this.done = true
        return false
      }
      const chunk = result.value instanceof Uint8Array ? result.value : result.value.subarray()
      if (chunk.byteLength > 0) {
        this.chunks.push(chunk)
        this.buffered += chunk.byteLength
        return true
      }
    }
  }

  private async next (deadline: number, signal: AbortSignal): Promise<IteratorResult<Chunk>> {
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    const pending = this.early ?? this.source.next()
    this.early = undefined
    // a stream that fails under us was reset by the peer (or its connection dropped)
    const next = pending.catch((err: unknown) => { throw this.errors.reset(err) })
    if (signal === NEVER_ABORTED && !Number.isFinite(deadline)) return await next
    // if the race is lost the stream gets reset; its pending read must not surface as unhandled
    next.catch(() => {})
    try {
      return await Promise.race([
        next,
        new Promise<never>((_resolve, reject) => {
          // an infinite deadline is no timer at all (setTimeout would clamp it to 1 ms)
          if (Number.isFinite(deadline)) {
            timer = setTimeout(() => { reject(this.errors.timeout('nothing from the peer within the read deadline')) }, Math.max(0, deadline - Date.now()))
          }
          onAbort = () => { reject(abortReason(signal, this.errors.aborted)) }
          signal.addEventListener('abort', onAbort, { once: true })
        })
      ])
    } finally {
      clearTimeout(timer)
      if (onAbort != null) signal.removeEventListener('abort', onAbort)
    }
  }

  /** remove and return the first `n` buffered bytes (n ≤ buffered) */
  private take (n: number): Uint8Array {
    const first = this.chunks[0]
    if (first != null && first.byteLength >= n) {
      const out = first.subarray(0, n)
      if (first.byteLength === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      this.buffered -= n
      return out
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.chunks[0]
      const need = n - filled
      if (chunk.byteLength <= need) {
        out.set(chunk, filled)
        filled += chunk.byteLength
        this.chunks.shift()
      } else {
        out.set(chunk.subarray(0, need), filled)
        this.chunks[0] = chunk.subarray(need)
        filled += need
      }
    }
    this.buffered -= n
    return out
  }
}
