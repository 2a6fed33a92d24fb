/**
 * A token bucket in bytes: `burst` at once, refilled at `ratePerSec`. The server uses one per
 * session to drop input beyond the rate; the client uses one, a little slower, to pace itself
 * so that it never gets there.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor (private readonly ratePerSec: number, private readonly burst: number, private readonly now: () => number = () => performance.now()) {
    if (!(ratePerSec > 0) || !(burst > 0)) throw new RangeError('token bucket: rate and burst must be positive')
    this.tokens = burst
    this.last = now()
  }

  get capacity (): number { return this.burst }

  /** take `n` tokens if they are there */
  take (n: number): boolean {
    this.refill()
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }

  /** ms until `n` tokens (at most the burst) are there */
  waitMs (n: number): number {
    this.refill()
    if (this.tokens >= n) return 0
    return Math.ceil((Math.min(n, this.burst) - this.tokens) * 1000 / this.ratePerSec)
  }

  private refill (): void {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.ratePerSec / 1000)
    this.last = now
  }
}
