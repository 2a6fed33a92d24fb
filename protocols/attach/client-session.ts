import { MalformedMessageError } from '../codec/errors.js'
import { AttachClosedError, AttachReadOnlyError, AttachWindowError, InvalidAttachArgumentError } from './errors.js'
import { TokenBucket } from './rate.js'
import { Wakeup, abortReason, checkSize, settlesWithin, sleep, streamError } from './util.js'
import type { AttachReply, ClientFrame } from './messages.js'
import type { AttachFrame, AttachMode, AttachSessionLike } from './types.js'
import type { ClientChannel } from './channel.js'

export interface ClientLimits {
  window: number
  ackBytes: number
  pingIntervalMs: number
  idleTimeoutMs: number
  closeTimeoutMs: number
}

/** resize notices and other frames without credit queued for the consumer at most: a node sending more is cut off */
const MAX_QUEUED_CONTROL = 1024

/** the client paces its input a little below the node's limits, so network jitter never trips them */
const PACE_RATE = 0.8
const PACE_BURST = 0.5

/** An open attach session, as `attach()` returns it. */
export interface AttachSession extends AttachSessionLike {
  /** the job's terminal size when the session opened (after an rw session's own resize) */
  readonly cols: number
  readonly rows: number
}

interface SessionInit {
  mode: AttachMode
  reply: Extract<AttachReply, { ok: true }>
  limits: ClientLimits
  /** aborting it resets the stream */
  controller: AbortController
  /** the controller's signal joined with the caller's */
  signal: AbortSignal
}

/**
 * The viewer's side of a session. A reader takes every frame off the stream at once (so pings
 * are heard however slow the consumer is) into a queue that the node's credit bounds; credit is
 * granted back as the consumer takes output from `output`.
 */
export class ClientSession implements AttachSession {
  readonly mode: AttachMode
  readonly cols: number
  readonly rows: number
  readonly output: AsyncIterable<AttachFrame>
  private readonly queue: AttachFrame[] = []
  private readonly wakeup = new Wakeup()
  private readonly bucket: TokenBucket
  private readonly inputMax: number
  /** credit the node has not used yet */
  private outstanding: number
  /** output the consumer took since the last grant */
  private consumed = 0
  private failure?: Error
  /** no more frames will come (EOF seen) */
  private finished = false
  private gotEnd = false
  private detached = false
  private iterated = false
  private queuedControl = 0
  private writes: Promise<void> = Promise.resolve()
  private readonly onAbort: () => void
  private readonly reading: Promise<void>
  private readonly pinger: ReturnType<typeof setInterval>

  constructor (private readonly channel: ClientChannel, private readonly init: SessionInit) {
    this.mode = init.mode
    this.cols = init.reply.cols
    this.rows = init.reply.rows
    this.outstanding = init.limits.window
    this.inputMax = Math.min(init.reply.inputMax, Math.max(1, Math.floor(init.reply.inputBurst * PACE_BURST)))
    this.bucket = new TokenBucket(init.reply.inputRate * PACE_RATE, this.inputMax)
    this.output = { [Symbol.asyncIterator]: () => this.iterator() }
    this.pinger = setInterval(() => { this.sendSoon({ type: 'ping' }) }, init.limits.pingIntervalMs)
    this.onAbort = () => { this.fail(abortReason(init.signal)) }
    init.signal.addEventListener('abort', this.onAbort, { once: true })
    this.reading = this.readLoop().catch((err: unknown) => { this.fail(streamError(err, init.limits.idleTimeoutMs)) })
  }

  async write (data: Uint8Array | string): Promise<void> {
    if (this.mode !== 'rw') throw new AttachReadOnlyError()
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
    await this.serialised(async () => {
      for (let offset = 0; offset < bytes.byteLength; offset += this.inputMax) {
        const chunk = bytes.subarray(offset, offset + this.inputMax)
        for (let wait = this.bucket.waitMs(chunk.byteLength); wait > 0; wait = this.bucket.waitMs(chunk.byteLength)) {
          await sleep(wait, this.init.signal)
        }
        this.bucket.take(chunk.byteLength)
        await this.send({ type: 'input', data: chunk })
      }
    })
  }

  async resize (cols: number, rows: number): Promise<void> {
    if (this.mode !== 'rw') throw new AttachReadOnlyError()
    const size = checkSize(cols, rows)
    await this.serialised(async () => { await this.send({ type: 'resize', ...size }) })
  }

  /** leave the session: the job keeps running; `output` ends (without error) */
  async detach (): Promise<void> {
    if (this.detached || this.finished || this.failure != null) return
    this.detached = true
    this.wakeup.notify()
    clearInterval(this.pinger)
    try {
      await this.send({ type: 'detach' })
      await this.channel.close({ signal: AbortSignal.timeout(this.init.limits.closeTimeoutMs) })
    } catch {
      // the node is gone or slow: the reset below ends the session all the same
    }
    if (!await settlesWithin(this.reading, this.init.limits.closeTimeoutMs)) this.channel.abort(new AttachClosedError('detached'))
  }

  private async * iterator (): AsyncGenerator<AttachFrame> {
    if (this.iterated) throw new InvalidAttachArgumentError('the output of an attach session can be iterated only once')
    this.iterated = true
    for (;;) {
      if (this.detached) return
      const frame = this.queue.shift()
      if (frame !== undefined) {
        if (frame.type === 'output') this.took(frame.data.byteLength)
        else this.queuedControl--
        yield frame
        continue
      }
      if (this.failure != null) throw this.failure
      if (this.finished) return
      await this.wakeup.wait()
    }
  }

  private took (bytes: number): void {
    this.consumed += bytes
    if (this.consumed < this.init.limits.ackBytes || this.gotEnd) return
    this.outstanding += this.consumed
    this.sendSoon({ type: 'credit', bytes: this.consumed })
    this.consumed = 0
  }

  private async readLoop (): Promise<void> {
    for (;;) {
      const frame = await this.channel.read(this.init.limits.idleTimeoutMs, this.init.signal)
      if (frame === undefined) break
      if (this.detached) continue
      if (frame.type === 'ping') continue
      if (this.gotEnd) throw new MalformedMessageError('the node sent a frame after the end frame')
      if (frame.type === 'output') {
        this.outstanding -= frame.data.byteLength
        if (this.outstanding < 0) throw new AttachWindowError('the node sent more output than the credit granted')
      }
      else if (++this.queuedControl > MAX_QUEUED_CONTROL) throw new AttachWindowError('the node sent more notices than a viewer queues')
      if (frame.type === 'end') this.gotEnd = true
      this.queue.push(frame)
      this.wakeup.notify()
    }
    if (!this.gotEnd && !this.detached) throw new AttachClosedError('the node closed the session')
    this.finished = true
    this.cleanup()
    this.wakeup.notify()
    // the node closed its side after the end frame: close ours so the stream is done on both ends
    await this.channel.close({ signal: AbortSignal.timeout(this.init.limits.closeTimeoutMs) }).catch(() => {})
  }

  private cleanup (): void {
    clearInterval(this.pinger)
    this.init.signal.removeEventListener('abort', this.onAbort)
  }

  private fail (err: Error): void {
    this.cleanup()
    if (this.finished || this.failure != null) return
    this.failure = this.detached ? new AttachClosedError('detached') : err
    if (!this.init.controller.signal.aborted) this.init.controller.abort(this.failure)
    this.channel.abort(this.failure)
    this.wakeup.notify()
  }

  private async send (frame: ClientFrame): Promise<void> {
    if (this.failure != null) throw this.failure
    if (this.finished || (this.detached && frame.type !== 'detach')) throw new AttachClosedError()
    await this.channel.send(frame, this.init.signal)
  }

  /** pings and credit: not awaited by anyone; a failure ends the session */
  private sendSoon (frame: ClientFrame): void {
    if (this.finished || this.detached || this.failure != null) return
    this.send(frame).catch((err: unknown) => { this.fail(err instanceof Error ? err : new AttachClosedError()) })
  }

  /** input and resizes go out one call after the other, so two writes never interleave */
  private async serialised (fn: () => Promise<void>): Promise<void> {
    const next = this.writes.then(fn)
    this.writes = next.catch(() => {})
    await next
  }
}
