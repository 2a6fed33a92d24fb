/**
 * The path of terminal output from the pty to the recording and to live watchers.
 *
 * The wrapper turns off the kernel's output processing (`stty -opost`) because its `\n` → `\r\n`
 * translation caps a pty at a few MB/s; the same translation is done here, byte for byte, so
 * what watchers and the recording see is what a terminal with default settings would show.
 */
import { StringDecoder } from 'node:string_decoder'
import type { Recorder } from './recorder.js'

/** newlines sampled to judge a chunk's line length */
const SAMPLE_NEWLINES = 32
/** lines at least this long on average are translated by the native string replace */
const LONG_LINE_BYTES = 24

/** whether `chunk`'s first lines are long enough for the native replace to beat the byte loop */
function longLines (chunk: Buffer, first: number): boolean {
  let at = first
  for (let n = 1; n < SAMPLE_NEWLINES; n++) {
    const next = chunk.indexOf(10, at + 1)
    if (next < 0) return true
    at = next
  }
  return (at - first) / (SAMPLE_NEWLINES - 1) >= LONG_LINE_BYTES
}

/** `\n` → `\r\n`, as the kernel's ONLCR does (a `\r\n` already there becomes `\r\r\n`, as there) */
export function translateNewlines (chunk: Buffer): Buffer {
  const first = chunk.indexOf(10)
  if (first < 0) return chunk
  // latin1 maps bytes to characters one to one, so this is a byte replace done natively: several
  // times the loop's speed when lines are long, far slower when they are a few bytes (`yes`)
  if (longLines(chunk, first)) return Buffer.from(chunk.toString('latin1').replaceAll('\n', '\r\n'), 'latin1')
  // a plain byte loop: indexOf per newline crawls (~10 MB/s) on short lines like `yes` prints
  const out = Buffer.allocUnsafe(chunk.length * 2)
  let to = 0
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i]
    if (b === 10) out[to++] = 13
    out[to++] = b
  }
  // a copy of the right size: listeners may keep the chunk (scrollback), never twice its size
  return Buffer.from(out.subarray(0, to))
}

/** the length of the longest prefix of `buf` (at most `max` bytes) that does not end inside a UTF-8 character */
export function utf8Boundary (buf: Buffer, max: number): number {
  let end = Math.min(max, buf.length)
  if (end === buf.length) return end
  // step back over continuation bytes (10xxxxxx) to the lead byte of the character cut at `end`
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--
  return end
}

/** where output goes and what bounds it */
export interface OutputPipeInit {
  recorder: Recorder
  /** bytes recorded at most; the rest is dropped and `onLimit` is called once */
  maxBytes: number
  /** translate `\n` to `\r\n` (the wrapper turned the kernel's translation off) */
  translate: boolean
  onOutput?: (data: Uint8Array) => void
  onLimit: () => void
  onOutputError: (err: unknown) => void
}

/** Counts, limits, translates and decodes a run's output, then feeds the recording and the live listener. */
export class OutputPipe {
  private readonly init: OutputPipeInit
  private decoder = new StringDecoder('utf8')
  private recorded = 0
  private full = false

  constructor (init: OutputPipeInit) {
    this.init = init
  }

  /** bytes recorded so far (after newline translation) */
  get bytes (): number { return this.recorded }

  get limitReached (): boolean { return this.full }

  /** a new pty starts: a multi-byte character is never carried over from the previous one */
  begin (): void {
    this.decoder = new StringDecoder('utf8')
  }

  write (raw: Buffer): void {
    if (this.full) return
    let chunk = this.init.translate ? translateNewlines(raw) : raw
    if (this.recorded + chunk.length > this.init.maxBytes) {
      chunk = chunk.subarray(0, utf8Boundary(chunk, this.init.maxBytes - this.recorded))
      this.full = true
    }
    this.recorded += chunk.length
    if (chunk.length > 0) {
      this.init.recorder.output(this.decoder.write(chunk))
      if (this.init.onOutput !== undefined) {
        try {
          this.init.onOutput(chunk)
        } catch (err) {
          this.init.onOutputError(err)
        }
      }
    }
    if (this.full) this.init.onLimit()
  }

  /** the pty closed: a character left incomplete is recorded as U+FFFD */
  end (): void {
    if (!this.full) this.init.recorder.output(this.decoder.end())
    this.decoder = new StringDecoder('utf8')
  }
}
