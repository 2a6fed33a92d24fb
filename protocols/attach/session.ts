import { ATTACH_MAX_REASON_CHARS } from './constants.js'
import { AttachClosedError, AttachTimeoutError, AttachWindowError } from './errors.js'
import { Outbox } from './outbox.js'
import { KeysIn } from './keys-in.js'
import { scrollbackTail, tailOf } from './replay.js'
import { Wakeup, abortReason, settlesWithin, streamError } from './util.js'
import type { ClientFrame, ServerFrame } from './messages.js'
import type { AttachEndState, AttachJobs, AttachMode, AttachOutputSource, AttachRefusalCode } from './types.js'
import type { ServerChannel } from './channel.js'

/** the tunables one session runs with (resolved by the service) */
export interface SessionLimits {
  pingIntervalMs: number
  idleTimeoutMs: number
  endFlushTimeoutMs: number
  closeTimeoutMs: number
  maxBufferedBytes: number
  replayBytes: number
  replayAlignBytes: number
  maxWindowBytes: number
  maxOutputChunkBytes: number
  inputBytesPerSec: number
  inputBurstBytes: number
  minResizeIntervalMs: number
  noticeIntervalMs: number
}

/** what a session needs from its service */
export interface SessionHost {
  jobs: AttachJobs
  /** apply a resize to the job and tell every session of it; throws as `jobs.resize` does */
  resize: (job: string, cols: number, rows: number) => void
}

export interface SessionInit {
  peer: string
  job: string
  mode: AttachMode
  /** credit granted in the hello */
  window: number
  source: AttachOutputSource
  host: SessionHost
  limits: SessionLimits
  /** the service stopping */
  signal: AbortSignal
}

export interface SessionCounters {
  sentBytes: number
  inputBytes: number
  resyncs: number
  pingsReceived: number
  /** input and resizes not delivered, by code */
  refused: Partial<Record<AttachRefusalCode, number>>
}

const MAX_QUEUED_CONTROL = 16

/**
 * One viewer of one job, on the serving node. Output goes through a bounded Outbox and is sent
 * against the client's credit; control frames (pings, resize notices, refusals) go first and
 * need no credit. The reader applies the client's frames: rw input and resizes, credit, pings,
 * detach. See docs/protocols/attach.md.
 */
export class ServerSession {
  readonly since = Date.now()
  readonly counters: SessionCounters = { sentBytes: 0, inputBytes: 0, resyncs: 0, pingsReceived: 0, refused: {} }
  private readonly outbox: Outbox
  private readonly control: ServerFrame[] = []
  private readonly wakeup = new Wakeup()
  private readonly controller = new AbortController()
  private readonly signal: AbortSignal
  private readonly keys: KeysIn
  private credit: number
  private endFrame?: ServerFrame
  private stopRequested = false
  private closing = false
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private unsubscribe: () => void = () => {}

  constructor (private readonly channel: ServerChannel, private readonly init: SessionInit) {
    this.outbox = new Outbox(init.limits.maxBufferedBytes)
    this.credit = init.window
    this.keys = new KeysIn({
      job: init.job,
      mode: init.mode,
      host: init.host,
      limits: init.limits,
      counters: this.counters,
      notify: (what, code) => { this.queueControl({ type: 'refused', what, code }) }
    })
    this.signal = AbortSignal.any([init.signal, this.controller.signal])
  }

  get peer (): string { return this.init.peer }
  get job (): string { return this.init.job }
  get mode (): AttachMode { return this.init.mode }
  get queuedBytes (): number { return this.outbox.size }
  get maxQueuedBytes (): number { return this.outbox.highWater }
  get droppedBytes (): number { return this.outbox.droppedTotal }

  /** Run to the end: resolves after an end frame or a detach (stream closed), rejects with a typed error (stream reset). */
  async run (): Promise<'ended' | 'detached'> {
    this.subscribe()
    const pinger = setInterval(() => { this.queueControl({ type: 'ping' }) }, this.init.limits.pingIntervalMs)
    const reading = this.readLoop()
    reading.catch((err: unknown) => { this.fail(err) })
    try {
      const how = await this.pump()
      await this.closeGracefully(reading)
      return how
    } catch (err) {
      const typed = this.signal.aborted ? abortReason(this.signal) : streamError(err, this.init.limits.idleTimeoutMs)
      this.channel.abort(typed)
      throw typed
    } finally {
      clearInterval(pinger)
      this.wakeup.close()
      for (const timer of this.timers) clearTimeout(timer)
      this.keys.close()
      this.unsubscribe()
      this.outbox.clear()
    }
  }

  /** end the session with `err` (the stream is reset) */
  fail (err: unknown): void {
    if (this.controller.signal.aborted) return
    this.controller.abort(streamError(err, this.init.limits.idleTimeoutMs))
  }

  /** tell this viewer the job's terminal has a new size */
  notifyResize (cols: number, rows: number): void {
    const i = this.control.findIndex(f => f.type === 'resize')
    if (i >= 0) this.control.splice(i, 1)
    this.queueControl({ type: 'resize', cols, rows })
  }

  private subscribe (): void {
    // the scrollback arrives synchronously inside subscribe(): keep only its tail
    let replay: Uint8Array[] | undefined = []
    let endedInReplay = false
    this.unsubscribe = this.init.source.subscribe({
      data: chunk => {
        if (replay !== undefined) replay.push(chunk)
        else this.onOutput(chunk)
      },
      end: () => {
        if (replay !== undefined) endedInReplay = true
        else this.onJobEnd()
      }
    })
    const { replayBytes, replayAlignBytes } = this.init.limits
    this.outbox.resume(tailOf(replay, replayBytes, replayAlignBytes))
    replay = undefined
    if (endedInReplay) this.onJobEnd()
  }

  private onOutput (chunk: Uint8Array): void {
    this.outbox.push(chunk)
    this.wakeup.notify()
  }

  private onJobEnd (): void {
    const finish = (state: AttachEndState | undefined): void => {
      const end: AttachEndState = state ?? { state: 'unknown', exitCode: null }
      this.endFrame = {
        type: 'end',
        state: end.state,
        exitCode: end.exitCode ?? null,
        ...(end.reason !== undefined ? { reason: end.reason.slice(0, ATTACH_MAX_REASON_CHARS) } : {})
      }
      this.timer(() => { this.fail(new AttachTimeoutError('the viewer did not take the rest of the output after the job ended')) }, this.init.limits.endFlushTimeoutMs)
      this.wakeup.notify()
    }
    Promise.resolve()
      .then(() => this.init.host.jobs.state(this.init.job))
      .then(finish, () => { finish(undefined) })
  }

  /** the only writer of the stream; returns when the session is over */
  private async pump (): Promise<'ended' | 'detached'> {
    for (;;) {
      if (this.signal.aborted) throw abortReason(this.signal)
      const control = this.control.shift()
      if (control !== undefined) {
        await this.send(control)
        continue
      }
      if (this.stopRequested) return 'detached'
      if (this.outbox.behind) {
        if (this.credit > 0) {
          await this.resync()
          continue
        }
      } else if (this.outbox.size > 0) {
        if (this.credit > 0) {
          await this.sendOutput()
          continue
        }
      } else if (this.endFrame !== undefined) {
        await this.send(this.endFrame)
        return 'ended'
      }
      await this.wakeup.wait(this.signal)
    }
  }

  private async resync (): Promise<void> {
    const dropped = this.outbox.dropped
    // the tail is taken now, when the viewer can take it again: it holds everything up to this moment
    this.outbox.resume(scrollbackTail(this.init.source, this.init.limits.replayBytes, this.init.limits.replayAlignBytes))
    this.counters.resyncs++
    await this.send({ type: 'resync', dropped })
  }

  private async sendOutput (): Promise<void> {
    const data = this.outbox.take(Math.min(this.credit, this.init.limits.maxOutputChunkBytes))
    this.credit -= data.byteLength
    this.counters.sentBytes += data.byteLength
    await this.send({ type: 'output', data })
  }

  private async send (frame: ServerFrame): Promise<void> {
    await this.channel.send(frame, this.signal)
  }

  private async readLoop (): Promise<void> {
    for (;;) {
      let frame: ClientFrame | undefined
      try {
        frame = await this.channel.read(this.init.limits.idleTimeoutMs, this.signal)
      } catch (err) {
        throw streamError(err, this.init.limits.idleTimeoutMs)
      }
      // the client closing its side without a detach frame is a detach too
      if (frame === undefined) {
        this.requestStop()
        return
      }
      if (this.closing) continue
      this.apply(frame)
    }
  }

  private apply (frame: ClientFrame): void {
    switch (frame.type) {
      case 'ping':
        this.counters.pingsReceived++
        return
      case 'detach':
        this.requestStop()
        return
      case 'credit':
        if (this.credit + frame.bytes > this.init.limits.maxWindowBytes) {
          throw new AttachWindowError(`outstanding credit of ${this.credit + frame.bytes} bytes is over the limit of ${this.init.limits.maxWindowBytes}`)
        }
        this.credit += frame.bytes
        this.wakeup.notify()
        return
      case 'input':
        this.keys.input(frame.data)
        return
      case 'resize':
        this.keys.resize(frame.cols, frame.rows)
    }
  }

  private queueControl (frame: ServerFrame): void {
    if (frame.type === 'ping' && this.control.some(f => f.type === 'ping')) return
    // a viewer that does not drain its stream gets no more than a few notices queued
    if (this.control.length >= MAX_QUEUED_CONTROL) return
    this.control.push(frame)
    this.wakeup.notify()
  }

  private requestStop (): void {
    this.stopRequested = true
    this.wakeup.notify()
  }

  /** close our side, then give the client a moment to close its own before resetting */
  private async closeGracefully (reading: Promise<void>): Promise<void> {
    this.closing = true
    try {
      await this.channel.close({ signal: AbortSignal.timeout(this.init.limits.closeTimeoutMs) })
    } catch {
      this.channel.abort(new AttachClosedError('the viewer did not take the end of the session'))
      return
    }
    if (!await settlesWithin(reading, this.init.limits.closeTimeoutMs)) {
      this.channel.abort(new AttachClosedError('the viewer did not close its side of the session'))
    }
    this.controller.abort(new AttachClosedError('session over'))
  }

  private timer (fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fn()
    }, ms)
    this.timers.add(timer)
  }
}
