import { OutputSlabs, translateNewlines } from '../executor/output.js'

/** bytes of terminal output kept per running job for viewers who join late */
export const SCROLLBACK_BYTES = 4 * 1024 * 1024
/** the scrollback's first buffer; it doubles as output comes, up to its size */
const FIRST_RING_BYTES = 64 * 1024

export interface OutputSubscriber {
  data: (chunk: Uint8Array) => void
  end: () => void
}

/**
 * The live terminal output of one running job: a bounded scrollback plus subscribers. A late
 * subscriber gets the scrollback first, then every chunk as it comes. A subscriber is called
 * synchronously and must not block (the control API buffers per connection and drops slow ones);
 * it may keep the chunks it gets.
 *
 * Output is pushed as read, in a buffer its pusher may reuse, and the scrollback keeps a copy of
 * the last bytes in one ring buffer: no object per read, nothing allocated while nobody watches.
 * With `onlcr` (the executor's pty, whose kernel translation is off) the bytes are kept as read
 * and each `\n` becomes `\r\n` only on its way to a subscriber, so a job nobody follows costs no
 * translation; subscribers get views of slabs that are never written twice.
 */
export class LiveOutput {
  private ring = Buffer.alloc(0)
  /** where the oldest byte kept is, and how many are kept */
  private start = 0
  private length = 0
  /** whether the kept bytes still need `\n` → `\r\n` (the mode of the first push; see `push`) */
  private onlcr: boolean | undefined
  private dropped = 0
  private ended = false
  private readonly subscribers = new Set<OutputSubscriber>()
  private readonly slabs = new OutputSlabs()

  constructor (private readonly maxBytes = SCROLLBACK_BYTES) {}

  /**
   * Output as read: `chunk` is copied (its buffer may be reused once this returns). With `onlcr`,
   * a terminal shows each `\n` in it as `\r\n`. A job's output comes in one mode; should a chunk
   * come in the other one, the scrollback is kept as shown from then on.
   */
  push (chunk: Uint8Array, onlcr = false): void {
    if (this.ended || chunk.byteLength === 0) return
    const raw = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    this.onlcr ??= onlcr
    if (this.onlcr !== onlcr) {
      // kept as shown from now on: the kept bytes translated once, and translated chunks after them
      if (this.onlcr) this.keepAsShown()
      this.keep(onlcr ? this.slabs.put(raw, true) : raw)
    } else {
      this.keep(raw)
    }
    if (this.subscribers.size === 0) return
    const shown = this.slabs.put(raw, onlcr)
    for (const s of this.subscribers) s.data(shown)
  }

  end (): void {
    if (this.ended) return
    this.ended = true
    for (const s of this.subscribers) s.end()
    this.subscribers.clear()
  }

  get isEnded (): boolean { return this.ended }
  /** bytes, as read, that fell out of the scrollback */
  get droppedBytes (): number { return this.dropped }

  subscribe (sub: OutputSubscriber): () => void {
    const replay = this.scrollback()
    if (replay.length > 0) sub.data(replay)
    if (this.ended) {
      sub.end()
      return () => {}
    }
    this.subscribers.add(sub)
    return () => { this.subscribers.delete(sub) }
  }

  /** the scrollback as a terminal shows it, in a buffer of its own (from a character's start when bytes were dropped) */
  private scrollback (): Buffer {
    const end = this.start + this.length
    const parts = end <= this.ring.length
      ? [this.ring.subarray(this.start, end)]
      : [this.ring.subarray(this.start), this.ring.subarray(0, end - this.ring.length)]
    // the oldest byte kept may be inside a character whose start was dropped: skip its continuation bytes
    for (let skipped = 0; this.dropped > 0 && skipped < 3 && parts.length > 0 && (parts[0][0] & 0xc0) === 0x80; skipped++) {
      parts[0] = parts[0].subarray(1)
      if (parts[0].length === 0) parts.shift()
    }
    const out = Buffer.allocUnsafe(this.onlcr === true ? this.length * 2 : this.length)
    let at = 0
    for (const part of parts) at = this.onlcr === true ? translateNewlines(part, out, at) : at + part.copy(out, at)
    return out.subarray(0, at)
  }

  /** copy `bytes` into the ring, the oldest bytes dropped past its size */
  private keep (bytes: Buffer): void {
    const n = bytes.length
    if (this.length + n > this.ring.length && this.ring.length < this.maxBytes) this.grow(this.length + n)
    const size = this.ring.length
    if (n >= size) {
      this.dropped += this.length + n - size
      bytes.copy(this.ring, 0, n - size)
      this.start = 0
      this.length = size
      return
    }
    const over = this.length + n - size
    if (over > 0) {
      this.dropped += over
      this.start = (this.start + over) % size
      this.length -= over
    }
    const at = (this.start + this.length) % size
    const first = Math.min(n, size - at)
    bytes.copy(this.ring, at, 0, first)
    bytes.copy(this.ring, 0, first)
    this.length += n
  }

  /** a larger ring (doubling, at most maxBytes) holding the kept bytes from its start */
  private grow (need: number): void {
    let size = Math.max(this.ring.length, Math.min(FIRST_RING_BYTES, this.maxBytes))
    while (size < need && size < this.maxBytes) size = Math.min(size * 2, this.maxBytes)
    if (size === this.ring.length) return
    const ring = Buffer.allocUnsafeSlow(size)
    const first = Math.min(this.length, this.ring.length - this.start)
    this.ring.copy(ring, 0, this.start, this.start + first)
    this.ring.copy(ring, first, 0, this.length - first)
    this.ring = ring
    this.start = 0
  }

  /** the kept bytes translated, from now on kept as shown */
  private keepAsShown (): void {
    const shown = this.scrollback()
    this.onlcr = false
    this.start = 0
    this.length = 0
    this.keep(shown)
  }
}
