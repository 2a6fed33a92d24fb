import { MalformedMessageError, MessageTooLargeError, ProtocolError } from '../codec/errors.js'
import { encodeFrame } from '../sync/frames.js'
import { FetchAbortedError, FetchResetError, FetchTimeoutError } from './errors.js'
import type { Stream } from '@libp2p/interface'

/** Length prefixes: unsigned LEB128 varints, as `protocols/sync/frames.ts` writes them, at most 4 bytes. */
const MAX_PREFIX_BYTES = 4

/** a chunk as a libp2p stream yields it: a Uint8Array or a Uint8ArrayList (which has `subarray()`) */
type Chunk = Uint8Array | { subarray: () => Uint8Array }

/** why a signal was aborted, as a typed error (deadlines abort with ERR_TIMEOUT) */
export function abortReason (signal: AbortSignal): ProtocolError {
  return signal.reason instanceof ProtocolError ? signal.reason : new FetchAbortedError()
}

/**
 * Send one length-prefixed frame, waiting for the stream to drain if its buffer is full. A
 * stream the peer reset or closed fails with ERR_RESET.
 */
export async function sendFrame (stream: Pick<Stream, 'send' | 'onDrain'>, payload: Uint8Array, signal: AbortSignal): Promise<void> {
  try {
    if (!stream.send(encodeFrame(payload))) await stream.onDrain({ signal })
  } catch (err) {
    if (signal.aborted) throw abortReason(signal)
    throw new FetchResetError({ cause: err })
  }
}

/**
 * Reads a fetch stream: length-prefixed frames (request, credit, reply header) and, after the
 * header, raw data. A frame's length is checked against the caller's limit before its body is
 * buffered; every read has a deadline; a reset stream fails with ERR_RESET. After an error the
 * reader is dead: reset the stream.
 */
export class ByteReader {
  private readonly source: AsyncIterator<Chunk>
  private chunks: Uint8Array[] = []
  private buffered = 0
  private done = false
  private early?: Promise<IteratorResult<Chunk>>

  constructor (stream: AsyncIterable<Chunk>) {
    this.source = stream[Symbol.asyncIterator]()
    // start reading now: a libp2p stream's iterator only listens once it runs, and an end of
    // stream that arrives before then is never reported to it
    this.early = this.source.next()
    this.early.catch(() => {})
  }

  /**
   * The next frame's payload, or undefined if the stream ended cleanly between frames.
   * Throws ERR_TOO_LARGE, ERR_MALFORMED, ERR_TIMEOUT, ERR_ABORTED. `timeoutMs` may be Infinity.
   */
  async frame (maxBytes: number, timeoutMs: number, signal: AbortSignal): Promise<Uint8Array | undefined> {
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
   * end of the stream. Throws ERR_TIMEOUT, ERR_ABORTED.
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
      if (signal.aborted) throw abortReason(signal)
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
    const next = pending.catch((err: unknown) => { throw new FetchResetError({ cause: err }) })
    // if the race is lost the stream gets reset; its pending read must not surface as unhandled
    next.catch(() => {})
    try {
      return await Promise.race([
        next,
        new Promise<never>((_resolve, reject) => {
          // an infinite deadline is no timer at all (setTimeout would clamp it to 1 ms)
          if (Number.isFinite(deadline)) {
            timer = setTimeout(() => { reject(new FetchTimeoutError('nothing from the peer within the read deadline')) }, Math.max(0, deadline - Date.now()))
          }
          onAbort = () => { reject(abortReason(signal)) }
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
