import { MalformedMessageError, MessageTooLargeError, ProtocolError } from '../codec/errors.js'
import { SyncAbortedError, SyncTimeoutError } from './errors.js'
import type { Stream } from '@libp2p/interface'

/** Length prefixes: unsigned LEB128 varints (as it-length-prefixed), at most 4 bytes (< 256 MiB). */
const MAX_PREFIX_BYTES = 4

/** a chunk as a stream yields it: a Uint8Array or a Uint8ArrayList (which has `subarray()`) */
type Chunk = Uint8Array | { subarray: () => Uint8Array }

export function encodeVarint (n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** (7 * MAX_PREFIX_BYTES)) throw new RangeError(`frame length ${n} out of range`)
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Uint8Array.from(out)
}

/** why a signal was aborted, as a typed error (a session deadline aborts with ERR_TIMEOUT) */
export function abortReason (signal: AbortSignal): ProtocolError {
  return signal.reason instanceof ProtocolError ? signal.reason : new SyncAbortedError()
}

/** a frame: varint length, then the payload */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  const prefix = encodeVarint(payload.byteLength)
  const out = new Uint8Array(prefix.byteLength + payload.byteLength)
  out.set(prefix, 0)
  out.set(payload, prefix.byteLength)
  return out
}

/** send one frame, waiting for the stream to drain if its buffer is full */
export async function writeFrame (stream: Pick<Stream, 'send' | 'onDrain'>, payload: Uint8Array, signal: AbortSignal): Promise<void> {
  if (!stream.send(encodeFrame(payload))) await stream.onDrain({ signal })
}

/**
 * Reads length-prefixed frames from a stream. The length is checked against the caller's limit
 * before any of the body is buffered; every read has a deadline. After an error the reader is
 * dead and the caller must reset the stream.
 */
export class FrameReader {
  private readonly source: AsyncIterator<Chunk>
  private chunks: Uint8Array[] = []
  private buffered = 0
  private done = false

  constructor (stream: AsyncIterable<Chunk>) {
    this.source = stream[Symbol.asyncIterator]()
  }

  /**
   * The next frame's payload, or undefined if the stream ended cleanly between frames.
   * Throws ERR_TOO_LARGE, ERR_MALFORMED (bad prefix, stream ended inside a frame), ERR_TIMEOUT,
   * ERR_ABORTED.
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

  /** one more chunk into the buffer; false at the end of the stream */
  private async pull (deadline: number, signal: AbortSignal): Promise<boolean> {
    if (this.done) return false
    if (signal.aborted) throw abortReason(signal)
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    const next = this.source.next()
    // if the race is lost the stream gets reset; its pending read must not surface as unhandled
    next.catch(() => {})
    try {
      const result = await Promise.race([
        next,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => { reject(new SyncTimeoutError('no frame from the peer within the deadline')) }, Math.max(0, deadline - Date.now()))
          onAbort = () => { reject(abortReason(signal)) }
          signal.addEventListener('abort', onAbort, { once: true })
        })
      ])
      if (result.done === true) {
        this.done = true
        return false
      }
      const chunk = result.value instanceof Uint8Array ? result.value : result.value.subarray()
      if (chunk.byteLength > 0) {
        this.chunks.push(chunk)
        this.buffered += chunk.byteLength
      }
      return true
    } finally {
      clearTimeout(timer)
      if (onAbort != null) signal.removeEventListener('abort', onAbort)
    }
  }

  /** remove and return the first `n` buffered bytes */
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
