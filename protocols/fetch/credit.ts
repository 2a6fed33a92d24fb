import { abortReason } from '../codec/frames.js'
import { FETCH_ERRORS, FetchTimeoutError, FetchWindowError } from './errors.js'

/**
 * The sender's side of the flow-control window: bytes may be sent only against credit the
 * receiver granted. The receiver grants as it consumes, so no more than the window is ever in
 * flight or buffered, whatever yamux's own queues would accept.
 */
export class CreditGate {
  private granted = 0
  private sent = 0
  private failure?: Error
  private wake?: () => void

  constructor (private readonly maxOutstanding: number) {}

  /** bytes the sender may send now */
  get available (): number {
    return this.granted - this.sent
  }

  /** add credit from the receiver; ERR_WINDOW if the outstanding credit would pass the limit */
  grant (bytes: number): void {
    const outstanding = this.available + bytes
    if (outstanding > this.maxOutstanding) throw new FetchWindowError(outstanding, this.maxOutstanding)
    this.granted += bytes
    this.wake?.()
  }

  /** record bytes sent (never more than available) */
  spend (bytes: number): void {
    this.sent += bytes
  }

  /** no more credit will come: waiters reject with `err` */
  fail (err: Error): void {
    this.failure ??= err
    this.wake?.()
  }

  /** resolve once there is credit; ERR_TIMEOUT if none comes within `timeoutMs` */
  async waitForCredit (timeoutMs: number, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.available <= 0) {
      if (this.failure != null) throw this.failure
      if (signal.aborted) throw abortReason(signal, FETCH_ERRORS.aborted)
      let timer: ReturnType<typeof setTimeout> | undefined
      let onAbort: (() => void) | undefined
      try {
        await new Promise<void>((resolve, reject) => {
          this.wake = resolve
          onAbort = () => { reject(abortReason(signal, FETCH_ERRORS.aborted)) }
          signal.addEventListener('abort', onAbort, { once: true })
          timer = setTimeout(() => { reject(new FetchTimeoutError('the receiver granted no credit within the deadline')) }, Math.max(0, deadline - Date.now()))
        })
      } finally {
        this.wake = undefined
        clearTimeout(timer)
        if (onAbort != null) signal.removeEventListener('abort', onAbort)
      }
    }
  }
}
