import { FrameReader, NEVER_ABORTED } from '../codec/frames.js'
import { ATTACH_MAX_CLIENT_FRAME_BYTES, ATTACH_MAX_HELLO_BYTES, ATTACH_MAX_REPLY_BYTES, ATTACH_MAX_SERVER_FRAME_BYTES } from './constants.js'
import { AttachClosedError } from './errors.js'
import { encodeClientFrame, encodeHello, encodeReply, encodeServerFrame, parseClientFrame, parseHello, parseReply, parseServerFrame } from './messages.js'
import { ATTACH_ERRORS, abortReason, sendFrame } from './util.js'
import type { AttachHello, AttachReply, ClientFrame, ServerFrame } from './messages.js'
import type { AttachStream } from './util.js'

/**
 * What a session sends and reads, as messages: the first message from the other side (the hello,
 * or the reply), then frames. Over the network a channel is a stream of CBOR in length-prefixed
 * frames (`streamChannel`); between two sessions in one process (a job on this very node) the
 * messages are handed over as they are (`pairedChannels`), with no encoding, framing or copying.
 */
export interface Channel<Out, First, In> {
  /** the other side's first message; undefined if it closed before sending one */
  first: (timeoutMs: number, signal: AbortSignal) => Promise<First | undefined>
  /** the next message after the first; undefined when the other side closed between messages */
  read: (timeoutMs: number, signal: AbortSignal) => Promise<In | undefined>
  /** send one message, waiting if the stream's buffer is full; ERR_CLOSED once closed */
  send: (message: Out, signal: AbortSignal) => Promise<void>
  /** close this side for writing (the other side reads to its end) */
  close: (options?: { signal?: AbortSignal }) => Promise<void>
  /** reset both directions: what was not read is dropped, the other side sees ERR_CLOSED */
  abort: (err: Error) => void
}

/** the node's end of a session */
export type ServerChannel = Channel<AttachReply | ServerFrame, AttachHello, ClientFrame>
/** the viewer's end of a session */
export type ClientChannel = Channel<AttachHello | ClientFrame, AttachReply, ServerFrame>

interface Codec<Out, First, In> {
  encode: (message: Out) => Uint8Array
  firstMaxBytes: number
  parseFirst: (bytes: Uint8Array, maxBytes: number) => First
  maxBytes: number
  parse: (bytes: Uint8Array, maxBytes: number) => In
}

interface Waiter {
  resolve: (message: unknown) => void
  reject: (err: Error) => void
  /** performance.now() after which the read fails with ERR_TIMEOUT */
  deadline: number
}

/**
 * One read at a time, failed by its deadline or by its signal, at little cost per read: one
 * timer per gate, armed for the first wait and, when it fires, re-armed for whatever wait is
 * pending then (a session reading a message a millisecond costs one timer per idle limit, not
 * one per message), and the signal's listener added once per signal rather than once per read.
 */
class ReadGate {
  private waiter?: Waiter
  private timer?: ReturnType<typeof setTimeout>
  private watched?: AbortSignal

  private readonly onAbort = (): void => {
    if (this.watched !== undefined) this.fail(abortReason(this.watched))
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    const waiter = this.waiter
    if (waiter === undefined) return
    const left = waiter.deadline - performance.now()
    if (left > 0) {
      this.arm(left)
      return
    }
    this.fail(ATTACH_ERRORS.timeout('nothing from the peer within the read deadline'))
  }

  /** a read that `settle` or `fail` ends, unless its deadline or its signal does first */
  async wait (timeoutMs: number, signal: AbortSignal): Promise<unknown> {
    if (signal.aborted) throw abortReason(signal)
    if (this.waiter !== undefined) throw new AttachClosedError('two reads at once on one attach channel')
    if (this.watched !== signal) {
      this.watched?.removeEventListener('abort', this.onAbort)
      this.watched = signal
      signal.addEventListener('abort', this.onAbort)
    }
    return await new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, deadline: performance.now() + timeoutMs }
      if (Number.isFinite(timeoutMs) && this.timer === undefined) this.arm(timeoutMs)
    })
  }

  /** `promise`'s outcome, unless the deadline or the signal comes first (its late outcome is then dropped) */
  async race (promise: Promise<unknown>, timeoutMs: number, signal: AbortSignal): Promise<unknown> {
    const waiting = this.wait(timeoutMs, signal)
    const waiter = this.waiter
    promise.then(value => { if (this.waiter === waiter) this.settle(value) }, (err: Error) => { if (this.waiter === waiter) this.fail(err) })
    return await waiting
  }

  settle (value: unknown): boolean {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.resolve(value)
    return waiter !== undefined
  }

  fail (err: Error): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.reject(err)
  }

  /** no more reads: the timer and the listener go */
  close (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.watched?.removeEventListener('abort', this.onAbort)
    this.watched = undefined
  }

  private arm (ms: number): void {
    this.timer = setTimeout(this.onTimer, ms)
    // a session's own keepalive timers hold the process; this one never has to
    this.timer.unref?.()
  }
}

/**
 * Messages as CBOR in varint length-prefixed frames on a stream (docs/protocols/attach.md). The
 * frame reader is asked without a deadline or a signal; the gate applies both.
 */
class StreamChannel<Out, First, In> implements Channel<Out, First, In> {
  private readonly reader: FrameReader
  private readonly gate = new ReadGate()

  constructor (private readonly stream: AttachStream, private readonly codec: Codec<Out, First, In>) {
    this.reader = new FrameReader(stream, ATTACH_ERRORS)
  }

  async first (timeoutMs: number, signal: AbortSignal): Promise<First | undefined> {
    const bytes = await this.next(this.codec.firstMaxBytes, timeoutMs, signal)
    return bytes === undefined ? undefined : this.codec.parseFirst(bytes, this.codec.firstMaxBytes)
  }

  async read (timeoutMs: number, signal: AbortSignal): Promise<In | undefined> {
    const bytes = await this.next(this.codec.maxBytes, timeoutMs, signal)
    return bytes === undefined ? undefined : this.codec.parse(bytes, this.codec.maxBytes)
  }

  async send (message: Out, signal: AbortSignal): Promise<void> {
    await sendFrame(this.stream, this.codec.encode(message), signal)
  }

  async close (options?: { signal?: AbortSignal }): Promise<void> {
    await this.stream.close(options)
  }

  abort (err: Error): void {
    this.gate.close()
    this.stream.abort(err)
  }

  private async next (maxBytes: number, timeoutMs: number, signal: AbortSignal): Promise<Uint8Array | undefined> {
    try {
      const bytes = await this.gate.race(this.reader.read(maxBytes, Infinity, NEVER_ABORTED), timeoutMs, signal) as Uint8Array | undefined
      if (bytes === undefined) this.gate.close()
      return bytes
    } catch (err) {
      // after an error the reader is dead (the caller resets the stream)
      this.gate.close()
      throw err
    }
  }
}

const encodeToClient = (m: AttachReply | ServerFrame): Uint8Array => 'ok' in m ? encodeReply(m) : encodeServerFrame(m)
const encodeToServer = (m: AttachHello | ClientFrame): Uint8Array => 'job' in m ? encodeHello(m) : encodeClientFrame(m)

/** the node's end of a session on a stream (a libp2p stream) */
export function serverStreamChannel (stream: AttachStream): ServerChannel {
  return new StreamChannel(stream, {
    encode: encodeToClient,
    firstMaxBytes: ATTACH_MAX_HELLO_BYTES,
    parseFirst: parseHello,
    maxBytes: ATTACH_MAX_CLIENT_FRAME_BYTES,
    parse: parseClientFrame
  })
}

/** the viewer's end of a session on a stream (a libp2p stream) */
export function clientStreamChannel (stream: AttachStream): ClientChannel {
  return new StreamChannel(stream, {
    encode: encodeToServer,
    firstMaxBytes: ATTACH_MAX_REPLY_BYTES,
    parseFirst: parseReply,
    maxBytes: ATTACH_MAX_SERVER_FRAME_BYTES,
    parse: parseServerFrame
  })
}

/** One end of an in-memory pair: what the other end sends is read here as it was sent. */
class MemoryEnd implements Channel<unknown, unknown, unknown> {
  other!: MemoryEnd
  private readonly inbox: unknown[] = []
  private inboxEnded = false
  private inboxError?: Error
  private writeClosed = false
  private readonly gate = new ReadGate()

  async first (timeoutMs: number, signal: AbortSignal): Promise<unknown> {
    return await this.read(timeoutMs, signal)
  }

  async read (timeoutMs: number, signal: AbortSignal): Promise<unknown> {
    if (signal.aborted) throw abortReason(signal)
    if (this.inbox.length > 0) return this.inbox.shift()
    if (this.inboxError !== undefined) throw this.inboxError
    if (this.inboxEnded) return undefined
    return await this.gate.wait(timeoutMs, signal)
  }

  async send (message: unknown, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw abortReason(signal)
    if (this.writeClosed) throw new AttachClosedError('the stream is closed for writing')
    this.other.deliver(message)
  }

  async close (): Promise<void> {
    if (this.writeClosed) return
    this.writeClosed = true
    this.other.endInbox()
  }

  abort (err: Error): void {
    this.writeClosed = true
    this.endInbox(err)
    this.other.writeClosed = true
    this.other.endInbox(new AttachClosedError('the other side reset the stream', { cause: err }))
  }

  private deliver (message: unknown): void {
    if (this.inboxEnded) return
    if (!this.gate.settle(message)) this.inbox.push(message)
  }

  private endInbox (err?: Error): void {
    if (this.inboxEnded) return
    this.inboxEnded = true
    // a reset throws away what was not read yet, as a libp2p stream does
    if (err !== undefined) {
      this.inboxError = err
      this.inbox.length = 0
      this.gate.fail(err)
    } else {
      this.gate.settle(undefined)
    }
    this.gate.close()
  }
}

/** two connected in-memory ends, the node's and the viewer's: what one sends, the other reads */
export function pairedChannels (): [ServerChannel, ClientChannel] {
  const server = new MemoryEnd()
  const client = new MemoryEnd()
  server.other = client
  client.other = server
  return [server as ServerChannel, client as ClientChannel]
}
