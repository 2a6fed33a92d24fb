import { ProtocolError, StreamTimeoutError } from '../codec/errors.js'
import { abortReason as reasonOf, writeFrame } from '../codec/frames.js'
import type { Chunk, FrameErrors } from '../codec/frames.js'
import { ATTACH_MAX_COLS, ATTACH_MAX_ROWS } from './constants.js'
import { AttachAbortedError, AttachClosedError, AttachTimeoutError, InvalidAttachArgumentError } from './errors.js'

export type { Chunk }

/**
 * The part of a libp2p stream a session uses. A libp2p `Stream` fits; so does the in-memory pair
 * of `local.ts` (a session with a job on this very node, which libp2p cannot dial).
 */
export interface AttachStream extends AsyncIterable<Chunk> {
  send (data: Uint8Array): boolean
  onDrain (options?: { signal?: AbortSignal }): Promise<void>
  close (options?: { signal?: AbortSignal }): Promise<void>
  abort (err: Error): void
}

/**
 * How the shared frame reader and writer word attach's failures: a closed or reset stream is
 * ERR_CLOSED; a read deadline stays generic for `streamError` to word with the idle timeout.
 */
export const ATTACH_ERRORS: FrameErrors = {
  aborted: () => new AttachAbortedError(),
  timeout: message => new StreamTimeoutError(message),
  reset: cause => new AttachClosedError('the stream was closed or reset by the other side', { cause })
}

/** why a signal was aborted, as a typed error (deadlines and failures abort with one) */
export function abortReason (signal: AbortSignal): ProtocolError {
  return reasonOf(signal, ATTACH_ERRORS.aborted)
}

/**
 * An error from reading or writing the stream, as a typed error: the frame reader's own
 * timeouts get this protocol's wording, and a reset or closed stream (libp2p's own errors)
 * becomes ERR_CLOSED.
 */
export function streamError (err: unknown, idleTimeoutMs: number): ProtocolError {
  if (err instanceof AttachTimeoutError || err instanceof AttachAbortedError) return err
  if (err instanceof ProtocolError) {
    if (err.code === 'ERR_TIMEOUT') return new AttachTimeoutError(`heard nothing from the peer for ${idleTimeoutMs} ms`)
    return err
  }
  return new AttachClosedError('the stream was closed or reset by the other side', { cause: err })
}

/** send one length-prefixed frame, waiting for the stream to drain if its buffer is full; ERR_CLOSED if it is closed */
export async function sendFrame (stream: AttachStream, payload: Uint8Array, signal: AbortSignal): Promise<void> {
  await writeFrame(stream, payload, signal, ATTACH_ERRORS)
}

/**
 * A one-slot wake-up: `notify()` before `wait()` is not lost. A wait that a signal may end adds
 * its abort listener once per signal, not once per wait (a session waits once per output chunk,
 * and a listener on an `AbortSignal.any` signal is not cheap); `close()` removes it.
 */
export class Wakeup {
  private pending = false
  private resolve?: () => void
  private reject?: (err: Error) => void
  private watched?: AbortSignal

  private readonly onAbort = (): void => {
    const reject = this.reject
    this.resolve = undefined
    this.reject = undefined
    if (reject !== undefined && this.watched !== undefined) reject(abortReason(this.watched))
  }

  notify (): void {
    this.pending = true
    const resolve = this.resolve
    this.resolve = undefined
    this.reject = undefined
    resolve?.()
  }

  /** resolve at the next (or a missed) notify; reject with the abort reason */
  async wait (signal?: AbortSignal): Promise<void> {
    if (this.pending) {
      this.pending = false
      return
    }
    if (signal?.aborted === true) throw abortReason(signal)
    if (signal !== undefined && signal !== this.watched) {
      this.watched?.removeEventListener('abort', this.onAbort)
      this.watched = signal
      signal.addEventListener('abort', this.onAbort)
    }
    await new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = signal !== undefined ? reject : undefined
    })
    this.pending = false
  }

  /** no more waits: the abort listener goes */
  close (): void {
    this.watched?.removeEventListener('abort', this.onAbort)
    this.watched = undefined
  }
}

/** wait `ms`, or reject with the abort reason */
export async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw abortReason(signal)
  let timer: ReturnType<typeof setTimeout> | undefined
  let onAbort: (() => void) | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(resolve, ms)
      onAbort = () => { reject(abortReason(signal)) }
      signal.addEventListener('abort', onAbort, { once: true })
    })
  } finally {
    clearTimeout(timer)
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}

/** resolve when `promise` settles or after `ms`, whichever is first; true if it settled */
export async function settlesWithin (promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<false>(resolve => { timer = setTimeout(() => { resolve(false) }, ms) })
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** a terminal size as the protocol accepts it; ERR_INVALID_ARGUMENT otherwise */
export function checkSize (cols: unknown, rows: unknown): { cols: number, rows: number } {
  const ok = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= max
  if (!ok(cols, ATTACH_MAX_COLS) || !ok(rows, ATTACH_MAX_ROWS)) {
    throw new InvalidAttachArgumentError(`attach: a terminal size is ${ATTACH_MAX_COLS}×${ATTACH_MAX_ROWS} at most and 1×1 at least, got ${String(cols)}×${String(rows)}`)
  }
  return { cols, rows }
}
