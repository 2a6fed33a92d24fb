import { createHash } from 'node:crypto'
import { VERIFY_CHUNK_BYTES } from './constants.js'
import type { Hash } from 'node:crypto'

/** where the hasher reads bytes it did not see arrive: the part file */
export interface OrderedHashSource {
  read: (buf: Uint8Array, position: number, length: number) => Promise<number>
}

/**
 * The sha256 of a download, computed in order while its ranges arrive out of order. Bytes that
 * arrive at the hashed frontier are hashed from memory; bytes that arrived ahead of it are read
 * back from the part file when the frontier reaches them (`catchUp`), only ever up to what is
 * written. The hash state is checkpointed at the start of every range, so a range that fails
 * part-way (its bytes will be fetched again, maybe different) is unhashed again.
 */
export class OrderedHash {
  private sha: Hash = createHash('sha256')
  private at = 0
  private checkpoint?: { start: number, sha: Hash }
  private catching?: Promise<void>
  /** bumped when hashed bytes are taken back: a read begun before then is stale */
  private generation = 0
  /** bytes hashed from the part file instead of from memory */
  readBack = 0

  constructor (
    private readonly source: OrderedHashSource,
    private readonly size: number,
    private readonly rangeBytes: number,
    /** bytes of range `start` on disk and final-so-far: its whole length when done, what is written while in flight */
    private readonly written: (rangeStart: number) => number
  ) {}

  /** bytes hashed so far, in order from 0 */
  get hashed (): number { return this.at }

  /** `chunk` was written at `offset`: hash it now if it is next */
  feed (offset: number, chunk: Uint8Array): void {
    if (this.catching != null || offset !== this.at) return
    this.mark()
    this.sha.update(chunk)
    this.at += chunk.byteLength
  }

  /** the range starting at `start` failed: bytes of it already hashed are taken back */
  failed (start: number): void {
    if (this.at <= start) return
    this.generation++
    if (this.checkpoint?.start === start) {
      this.sha = this.checkpoint.sha.copy()
      this.at = start
    } else {
      // hashed past its end already (it failed after its last byte): start over
      this.reset()
    }
  }

  /** start again from byte 0 (a repair round rewrites ranges anywhere) */
  reset (): void {
    this.generation++
    this.sha = createHash('sha256')
    this.at = 0
    this.checkpoint = undefined
  }

  /** hash, from the file, whatever is written and final right after the frontier */
  async catchUp (signal?: AbortSignal): Promise<void> {
    while (this.catching != null) await this.catching
    const run = this.readAhead(signal)
    this.catching = run
    try {
      await run
    } finally {
      this.catching = undefined
    }
  }

  /** the digest once every byte is hashed; undefined before */
  digest (): string | undefined {
    return this.at === this.size ? this.sha.copy().digest('hex') : undefined
  }

  private mark (): void {
    if (this.at % this.rangeBytes === 0 && this.checkpoint?.start !== this.at) this.checkpoint = { start: this.at, sha: this.sha.copy() }
  }

  private async readAhead (signal?: AbortSignal): Promise<void> {
    let buf: Buffer | undefined
    for (;;) {
      signal?.throwIfAborted()
      const rangeStart = this.at - (this.at % this.rangeBytes)
      const until = Math.min(this.size, rangeStart + this.written(rangeStart))
      if (this.at >= until) return
      this.mark()
      buf ??= Buffer.allocUnsafe(VERIFY_CHUNK_BYTES)
      const generation = this.generation
      const n = await this.source.read(buf, this.at, Math.min(buf.byteLength, until - this.at))
      if (n <= 0) throw new Error('the partial download shrank while it was hashed')
      if (generation !== this.generation) continue
      this.sha.update(buf.subarray(0, n))
      this.at += n
      this.readBack += n
    }
  }
}
