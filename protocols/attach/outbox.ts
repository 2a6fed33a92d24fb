/**
 * The output queued for one viewer, bounded. When a chunk would take it past `maxBytes` the
 * queue is dropped and the outbox goes *behind*: later chunks are only counted until the sender
 * resynchronises the viewer (a `resync` frame, then the scrollback's tail, see `resume`). The job
 * never waits for a viewer; a stuck viewer costs at most `maxBytes`.
 */
export class Outbox {
  private chunks: Uint8Array[] = []
  private bytes = 0
  private isBehind = false
  private droppedSinceResync = 0
  /** output bytes dropped in all */
  droppedTotal = 0
  /** the most bytes ever queued at once */
  highWater = 0

  constructor (private readonly maxBytes: number) {}

  get size (): number { return this.bytes }
  get behind (): boolean { return this.isBehind }
  /** bytes dropped since the last resync */
  get dropped (): number { return this.droppedSinceResync }

  /** queue a chunk; returns false when this chunk put the outbox behind */
  push (chunk: Uint8Array): boolean {
    if (chunk.byteLength === 0) return true
    if (this.isBehind) {
      this.drop(chunk.byteLength)
      return true
    }
    if (this.bytes + chunk.byteLength > this.maxBytes) {
      this.drop(this.bytes + chunk.byteLength)
      this.chunks = []
      this.bytes = 0
      this.isBehind = true
      return false
    }
    this.chunks.push(chunk)
    this.bytes += chunk.byteLength
    this.highWater = Math.max(this.highWater, this.bytes)
    return true
  }

  /** back in step: the queue becomes `tail` (the scrollback's tail, at most the bound) */
  resume (tail: Uint8Array): void {
    this.isBehind = false
    this.droppedSinceResync = 0
    this.chunks = []
    this.bytes = 0
    this.push(tail.byteLength > this.maxBytes ? tail.subarray(tail.byteLength - this.maxBytes) : tail)
  }

  /** up to `max` bytes from the front, small chunks joined into one */
  take (max: number): Uint8Array {
    const first = this.chunks[0]
    if (first === undefined || max <= 0) return new Uint8Array(0)
    if (first.byteLength >= max) {
      const out = first.subarray(0, max)
      if (first.byteLength === max) this.chunks.shift()
      else this.chunks[0] = first.subarray(max)
      this.bytes -= max
      return out
    }
    let size = 0
    let n = 0
    while (n < this.chunks.length && size + this.chunks[n].byteLength <= max) size += this.chunks[n++].byteLength
    if (n === 1) {
      this.bytes -= size
      return this.chunks.shift()!
    }
    const out = new Uint8Array(size)
    let offset = 0
    for (const chunk of this.chunks.splice(0, n)) {
      out.set(chunk, offset)
      offset += chunk.byteLength
    }
    this.bytes -= size
    return out
  }

  /** forget everything queued (the viewer detached) */
  clear (): void {
    this.chunks = []
    this.bytes = 0
  }

  private drop (n: number): void {
    this.droppedSinceResync += n
    this.droppedTotal += n
  }
}
