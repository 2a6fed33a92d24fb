import { InvalidArgumentError } from './errors.js'
import type { ByteSource } from './types.js'

/**
 * Pulls chunks from a put's source one at a time. Pulling only after the previous chunk is on disk is what gives
 * backpressure: a Readable stays paused and a generator stays suspended while the store writes.
 */
export class SourceReader {
  private readonly it: AsyncIterator<unknown> | Iterator<unknown>

  constructor (source: ByteSource) {
    const s = source as unknown as Record<symbol, unknown> | null | undefined
    if (source instanceof Uint8Array) {
      throw new InvalidArgumentError('put source is a single Uint8Array: pass an iterable of chunks, e.g. [bytes]')
    }
    if (s != null && typeof s[Symbol.asyncIterator] === 'function') {
      this.it = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]()
    } else if (s != null && typeof s[Symbol.iterator] === 'function' && typeof source !== 'string') {
      this.it = (source as Iterable<unknown>)[Symbol.iterator]()
    } else {
      throw new InvalidArgumentError('put source must be an AsyncIterable, Iterable or Readable of Uint8Array chunks')
    }
  }

  /** the next chunk, or undefined at the end; rejects with the signal's reason as soon as it aborts */
  async next (signal: AbortSignal): Promise<Uint8Array | undefined> {
    signal.throwIfAborted()
    const result = await raceAbort(Promise.resolve().then(() => this.it.next()), signal)
    if (result.done === true) return undefined
    const chunk = result.value
    if (!(chunk instanceof Uint8Array)) {
      const what = chunk === null ? 'null' : typeof chunk === 'object' ? chunk.constructor?.name ?? 'object' : typeof chunk
      throw new InvalidArgumentError(`put source yielded a ${what}; chunks must be Uint8Array (a Readable must not set an encoding)`)
    }
    return chunk
  }

  /**
   * Tell the producer we are done early (destroys a Readable, finishes a generator). Not awaited: a producer stuck
   * in its own await must not hold up the cleanup of our temp file.
   */
  close (): void {
    try {
      Promise.resolve(this.it.return?.()).catch(() => {})
    } catch {}
  }
}

/** settle with `p`, or reject with `signal.reason` as soon as the signal aborts (p's late outcome is ignored) */
export async function raceAbort<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      value => { signal.removeEventListener('abort', onAbort); resolve(value) },
      err => { signal.removeEventListener('abort', onAbort); reject(err) }
    )
  })
}
