/**
 * The path of terminal output from the pty to the recording and to live watchers.
 *
 * The wrapper turns off the kernel's output processing (`stty -opost`) because its `\n` → `\r\n`
 * translation caps a pty at a few MB/s; the same translation is done on this side, byte for byte,
 * so what watchers and the recording see is what a terminal with default settings would show: the
 * recorder does it while it escapes, the live output only for its viewers (`onlcr`).
 */
import { OUTPUT_SLAB_BYTES } from './constants.js'
import type { Recorder } from './recorder.js'

/** newlines sampled to judge a chunk's line length */
const SAMPLE_NEWLINES = 32
/** lines at least this long on average are copied natively from newline to newline */
const LONG_LINE_BYTES = 256

/** whether `chunk`'s first lines are long enough for copies between newlines to beat the byte loop */
function longLines (chunk: Buffer, first: number): boolean {
  let at = first
  for (let n = 1; n < SAMPLE_NEWLINES; n++) {
    const next = chunk.indexOf(10, at + 1)
    if (next < 0) return true
    at = next
  }
  return (at - first) / (SAMPLE_NEWLINES - 1) >= LONG_LINE_BYTES
}

/**
 * `\n` → `\r\n`, as the kernel's ONLCR does (a `\r\n` already there becomes `\r\r\n`, as there),
 * written into `out` from `at` (which has room for twice `chunk`); returns where it ended
 */
export function translateNewlines (chunk: Buffer, out: Buffer, at: number): number {
  const first = chunk.indexOf(10)
  if (first < 0) return at + chunk.copy(out, at)
  // no strings: the daemon's small young generation turns every string made per read into scavenges
  if (longLines(chunk, first)) {
    let to = at
    let from = 0
    for (let nl = first; nl >= 0; nl = chunk.indexOf(10, from)) {
      to += chunk.copy(out, to, from, nl)
      out[to++] = 13
      out[to++] = 10
      from = nl + 1
    }
    return to + chunk.copy(out, to, from)
  }
  // shorter lines: indexOf and a copy per newline cost more than a loop over the bytes, four at a
  // time while none of them is a newline (a zero byte in x ^ 0x0a0a0a0a sets a high bit in the test)
  const n = chunk.length
  const words = new DataView(chunk.buffer, chunk.byteOffset, n)
  const into = new DataView(out.buffer, out.byteOffset, out.length)
  let to = at
  let i = 0
  while (i < n) {
    if (i + 4 <= n) {
      const z = words.getInt32(i, true) ^ 0x0a0a0a0a
      if (((z - 0x01010101) & ~z & 0x80808080) === 0) {
        into.setInt32(to, z ^ 0x0a0a0a0a, true)
        to += 4
        i += 4
        continue
      }
    }
    for (const end = Math.min(i + 4, n); i < end; i++) {
      const b = chunk[i]
      if (b === 10) out[to++] = 13
      out[to++] = b
    }
  }
  return to
}

/** the length of the longest prefix of `buf` (at most `max` bytes) that does not end inside a UTF-8 character */
export function utf8Boundary (buf: Buffer, max: number): number {
  let end = Math.min(max, buf.length)
  if (end === buf.length) return end
  // step back over continuation bytes (10xxxxxx) to the lead byte of the character cut at `end`
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--
  return end
}

/**
 * Output written where nothing was written before: each `put` lands after the last one in the
 * current slab, or in a fresh slab when that one has no room, and a slab is never written twice,
 * so whoever gets a view may keep it. No allocation per read.
 */
export class OutputSlabs {
  private slab = Buffer.alloc(0)
  private at = 0

  /** `raw` (with `\n` as `\r\n` when `onlcr`) copied into a slab; a view of it */
  put (raw: Buffer, onlcr: boolean): Buffer {
    const room = onlcr ? raw.length * 2 : raw.length
    if (this.slab.length - this.at < room) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(OUTPUT_SLAB_BYTES, room))
      this.at = 0
    }
    const start = this.at
    this.at = onlcr ? translateNewlines(raw, this.slab, start) : start + raw.copy(this.slab, start)
    return this.slab.subarray(start, this.at)
  }
}

/** where output goes and what bounds it */
export interface OutputPipeInit {
  recorder: Recorder
  /** bytes recorded at most (as a terminal shows them); the rest is dropped and `onLimit` is called once */
  maxBytes: number
  /** translate `\n` to `\r\n` (the wrapper turned the kernel's translation off) */
  translate: boolean
  /** output as a terminal shows it, in buffers the listener may keep (translated and copied for it) */
  onOutput?: (data: Uint8Array) => void
  /**
   * output as read, valid only during the call (the pty's read buffer is reused); `onlcr`: each
   * `\n` in it is shown as `\r\n` (the listener translates what it passes on)
   */
  onRawOutput?: (data: Uint8Array, onlcr: boolean) => void
  onLimit: () => void
  onOutputError: (err: unknown) => void
}

/**
 * Counts, limits and translates a run's output, then feeds the recording and the live listeners.
 * The recorder translates while it escapes, in the same pass; a raw listener gets the bytes as read,
 * and only an `onOutput` listener gets a translated copy, written into a slab of which it gets a
 * view: no allocation per read. A slab is never written twice, so such a listener may keep its views.
 */
export class OutputPipe {
  private readonly init: OutputPipeInit
  private recorded = 0
  private full = false
  private readonly slabs = new OutputSlabs()

  constructor (init: OutputPipeInit) {
    this.init = init
  }

  /** bytes recorded so far (after newline translation) */
  get bytes (): number { return this.recorded }

  get limitReached (): boolean { return this.full }

  /** `raw` may be the pty's reused read buffer: nothing here keeps it past the call */
  write (raw: Buffer): void {
    if (this.full) return
    const onlcr = this.init.translate
    // a terminal's bytes are at most twice the raw ones: short of the limit by that, nothing is cut
    if (this.recorded + raw.length * (onlcr ? 2 : 1) <= this.init.maxBytes) {
      this.recorded += this.init.recorder.outputBytes(raw, onlcr)
      this.emit(raw, onlcr)
      return
    }
    // near the limit (the last reads before it): cut the terminal's bytes at it, on a character's boundary
    const shown = onlcr ? this.slabs.put(raw, true) : raw
    const cut = shown.subarray(0, utf8Boundary(shown, this.init.maxBytes - this.recorded))
    this.full = cut.length < shown.length
    if (cut.length > 0) {
      this.recorded += this.init.recorder.outputBytes(cut)
      this.emit(onlcr ? raw.subarray(0, rawLength(raw, cut.length)) : cut, onlcr, onlcr ? cut : undefined)
    }
    if (this.full) this.init.onLimit()
  }

  /** the pty closed: a character left incomplete is recorded as U+FFFD; the next pty starts afresh */
  end (): void {
    this.init.recorder.endOutput(this.full)
  }

  /** to the listeners; `shown`: the terminal's bytes, when the caller has them in the slab already */
  private emit (raw: Buffer, onlcr: boolean, shown?: Buffer): void {
    if (raw.length > 0 && this.init.onRawOutput !== undefined) {
      try {
        this.init.onRawOutput(raw, onlcr)
      } catch (err) {
        this.init.onOutputError(err)
      }
    }
    if (this.init.onOutput === undefined) return
    const data = shown ?? this.slabs.put(raw, onlcr)
    if (data.length === 0) return
    try {
      this.init.onOutput(data)
    } catch (err) {
      this.init.onOutputError(err)
    }
  }
}

/** how many bytes of `raw` a terminal shows as its first `shown` bytes (a `\r` of its own left out) */
function rawLength (raw: Buffer, shown: number): number {
  let n = 0
  for (let i = 0; i < raw.length; i++) {
    n += raw[i] === 10 ? 2 : 1
    if (n > shown) return i
  }
  return raw.length
}
