import { TokenBucket } from './rate.js'
import type { AttachMode, AttachRefusalCode } from './types.js'
import type { SessionHost, SessionLimits, SessionCounters } from './session.js'

export interface KeysInInit {
  job: string
  mode: AttachMode
  host: SessionHost
  limits: Pick<SessionLimits, 'inputBytesPerSec' | 'inputBurstBytes' | 'minResizeIntervalMs' | 'noticeIntervalMs'>
  counters: SessionCounters
  /** queue a refusal notice for the viewer */
  notify: (what: 'input' | 'resize', code: AttachRefusalCode) => void
}

/**
 * What a viewer sends that reaches the job: keys and resizes, each checked against the
 * session's mode (a read-only session's never reach the job, whatever the client sends), keys
 * against the input rate, resizes coalesced. What is not delivered is counted and the viewer
 * told, at most once per notice interval.
 */
export class KeysIn {
  private readonly bucket: TokenBucket
  private lastNoticeAt = -Infinity
  private lastResizeAt = -Infinity
  private pendingResize?: { cols: number, rows: number }
  private timer?: ReturnType<typeof setTimeout>
  private closed = false

  constructor (private readonly init: KeysInInit) {
    this.bucket = new TokenBucket(init.limits.inputBytesPerSec, init.limits.inputBurstBytes)
  }

  input (data: Uint8Array): void {
    if (this.init.mode !== 'rw') return this.refuse('input', 'ERR_READ_ONLY')
    if (!this.bucket.take(data.byteLength)) return this.refuse('input', 'ERR_RATE_LIMITED')
    let delivered: boolean
    try {
      delivered = this.init.host.jobs.write(this.init.job, data)
    } catch {
      return this.refuse('input', 'ERR_NOT_RUNNING')
    }
    if (!delivered) return this.refuse('input', 'ERR_NO_TERMINAL')
    this.init.counters.inputBytes += data.byteLength
  }

  /** resizes are applied at most every minResizeIntervalMs; the latest request in between wins */
  resize (cols: number, rows: number): void {
    if (this.init.mode !== 'rw') return this.refuse('resize', 'ERR_READ_ONLY')
    const first = this.pendingResize === undefined
    this.pendingResize = { cols, rows }
    const wait = this.lastResizeAt + this.init.limits.minResizeIntervalMs - performance.now()
    if (wait <= 0) this.applyResize()
    else if (first) this.timer = setTimeout(() => { this.applyResize() }, wait)
  }

  /** the session is over: a pending resize is not applied */
  close (): void {
    this.closed = true
    clearTimeout(this.timer)
  }

  private applyResize (): void {
    const size = this.pendingResize
    this.pendingResize = undefined
    if (size === undefined || this.closed) return
    this.lastResizeAt = performance.now()
    try {
      this.init.host.resize(this.init.job, size.cols, size.rows)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      this.refuse('resize', code === 'ERR_INVALID_TERMINAL_SIZE' ? 'ERR_INVALID_SIZE' : 'ERR_NOT_RUNNING')
    }
  }

  private refuse (what: 'input' | 'resize', code: AttachRefusalCode): void {
    const refused = this.init.counters.refused
    refused[code] = (refused[code] ?? 0) + 1
    const now = performance.now()
    if (now - this.lastNoticeAt < this.init.limits.noticeIntervalMs) return
    this.lastNoticeAt = now
    this.init.notify(what, code)
  }
}
