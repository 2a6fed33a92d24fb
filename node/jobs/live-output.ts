/** bytes of terminal output kept per running job for viewers who join late */
export const SCROLLBACK_BYTES = 4 * 1024 * 1024

export interface OutputSubscriber {
  data: (chunk: Uint8Array) => void
  end: () => void
}

/**
 * The live terminal output of one running job: a bounded scrollback plus subscribers. A late
 * subscriber gets the scrollback first, then every chunk as it comes. A subscriber is called
 * synchronously and must not block (the control API buffers per connection and drops slow ones).
 */
export class LiveOutput {
  private readonly chunks: Uint8Array[] = []
  private bytes = 0
  private dropped = 0
  private ended = false
  private readonly subscribers = new Set<OutputSubscriber>()

  constructor (private readonly maxBytes = SCROLLBACK_BYTES) {}

  push (chunk: Uint8Array): void {
    if (this.ended || chunk.byteLength === 0) return
    // the executor's chunks are consecutive views of one slab: the scrollback keeps one view per
    // slab rather than one per read (thousands of small objects that would outlive the young
    // generation and grow the old one)
    const last = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1] : undefined
    if (last !== undefined && last.buffer === chunk.buffer && last.byteOffset + last.byteLength === chunk.byteOffset) {
      this.chunks[this.chunks.length - 1] = new Uint8Array(last.buffer, last.byteOffset, last.byteLength + chunk.byteLength)
    } else {
      this.chunks.push(chunk)
    }
    this.bytes += chunk.byteLength
    while (this.bytes > this.maxBytes && this.chunks.length > 1) {
      const old = this.chunks.shift()!
      this.bytes -= old.byteLength
      this.dropped += old.byteLength
    }
    for (const s of this.subscribers) s.data(chunk)
  }

  end (): void {
    if (this.ended) return
    this.ended = true
    for (const s of this.subscribers) s.end()
    this.subscribers.clear()
  }

  get isEnded (): boolean { return this.ended }
  /** bytes that fell out of the scrollback */
  get droppedBytes (): number { return this.dropped }

  subscribe (sub: OutputSubscriber): () => void {
    for (const c of this.chunks) sub.data(c)
    if (this.ended) {
      sub.end()
      return () => {}
    }
    this.subscribers.add(sub)
    return () => { this.subscribers.delete(sub) }
  }
}
