/**
 * An asciicast v2 recording (https://docs.asciinema.org/manual/asciicast/v2/), streamed to a file
 * while the job runs: a header line, then one JSON array per event:
 * `[seconds, "o", text]` output, `[seconds, "m", label]` markers, `[seconds, "r", "COLSxROWS"]` resizes.
 *
 * Output arrives as bytes (`outputBytes`) and stays bytes: reads within RECORDER_EVENT_MS of an
 * event's first byte join that event (up to RECORDER_EVENT_BYTES), escaped for JSON as they come
 * into one reused buffer, and the event is copied into the file's batch when it ends. An event's
 * time is when its first byte was read. Lines are batched (RECORDER_BATCH_BYTES or
 * RECORDER_FLUSH_MS) so a chatty job costs few writes; `congested` turns true while more than
 * RECORDER_HIGH_WATER_BYTES wait for the disk, and the caller pauses the pty until `drained`
 * fires, so memory stays bounded whatever the job prints.
 */
import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { EventEmitter } from 'node:events'
import { MAX_ESCAPE_BYTES, escapeJson, incompleteTail } from './cast-bytes.js'
import { translateNewlines } from './output.js'
import { RECORDER_BATCH_BYTES, RECORDER_EVENT_BYTES, RECORDER_EVENT_MS, RECORDER_FLUSH_MS, RECORDER_HIGH_WATER_BYTES } from './constants.js'
import type { NewlineCount } from './cast-bytes.js'
import type { WriteStream } from 'node:fs'

/** output is escaped in pieces of at most this many bytes, so one piece always fits the open event */
const PIECE_BYTES = RECORDER_EVENT_BYTES / 4
/** an event's escaped bytes: a full event plus the largest escaped piece (and a carried partial character) */
const EVENT_CAPACITY = RECORDER_EVENT_BYTES + MAX_ESCAPE_BYTES * PIECE_BYTES + 4
/** a batch holds whatever is pending when it passes RECORDER_BATCH_BYTES, so one more event always fits */
const BATCH_CAPACITY = RECORDER_BATCH_BYTES + EVENT_CAPACITY + 64
/** written batches kept for reuse */
const SPARE_BATCHES = 2

/** the header line's fields besides `version` */
export interface CastHeader {
  width: number
  height: number
  /** seconds since the epoch */
  timestamp: number
  title: string
  env: { TERM: string, SHELL: string }
}

/** Writes one recording; `close()` before reading the file. */
export class Recorder extends EventEmitter<{ drained: [] }> {
  private readonly stream: WriteStream
  private readonly clock: () => number
  private readonly started: number
  private batch: Buffer = Buffer.allocUnsafeSlow(BATCH_CAPACITY)
  private batchLength = 0
  private readonly spare: Buffer[] = []
  private timer: NodeJS.Timeout | undefined
  private error: Error | undefined
  private closed = false
  private needDrain = false
  /** the file's bytes, hashed as they are written: the store takes this instead of reading them back */
  private readonly sha = createHash('sha256')
  private digest?: string
  /** the open output event, escaped; between events, the start of a character the last one left incomplete */
  private readonly event = Buffer.allocUnsafeSlow(EVENT_CAPACITY)
  private eventLength = 0
  private open = false
  /** when the open event's first byte was read (on the clock) */
  private eventAt = 0
  /** newlines translated while escaping (`outputBytes` with `onlcr`) */
  private readonly translated: NewlineCount = { newlines: 0 }
  /** a chunk too large to translate while escaping is translated here first (see `outputBytes`) */
  private scratch: Buffer | undefined

  /** `init.now` is the clock in milliseconds (performance.now() unless a test drives it) */
  constructor (path: string, header: CastHeader, init: { now?: () => number } = {}) {
    super()
    this.clock = init.now ?? (() => performance.now())
    this.started = this.clock()
    this.stream = createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: RECORDER_HIGH_WATER_BYTES })
    this.stream.on('error', err => { this.error ??= err })
    this.stream.on('drain', () => {
      this.needDrain = false
      this.emit('drained')
    })
    this.line(JSON.stringify({ version: 2, ...header }))
  }

  /** true while the disk lags: stop reading the pty until `drained` */
  get congested (): boolean {
    return this.needDrain
  }

  /** seconds since the recording started at `at` (on the clock), to the microsecond */
  private seconds (at: number): number {
    return Math.round((at - this.started) * 1000) / 1e6
  }

  /** terminal output as text, an event of its own (output bytes read before it come first) */
  output (text: string): void {
    this.closeEvent()
    if (text !== '') this.line(JSON.stringify([this.seconds(this.clock()), 'o', text]))
  }

  /**
   * Terminal output as read, UTF-8 (a character may be split between calls); bytes that are not
   * UTF-8 are recorded as U+FFFD. It is copied: the caller may reuse `chunk`. With `onlcr`, each
   * `\n` is recorded as `\r\n` (the kernel's translation, which the wrapper turned off), exactly
   * as if the translated bytes had been given. Returns the output's length as recorded (a
   * terminal's bytes: `chunk`'s plus one per translated newline).
   */
  outputBytes (chunk: Uint8Array, onlcr = false): number {
    if (chunk.byteLength === 0) return 0
    if (onlcr && chunk.byteLength > PIECE_BYTES / 2) {
      // pieces are cut by the terminal's bytes: a chunk that may need more than one (never a
      // pty's read, which is at most a few KiB) is translated first and given as it shows
      const room = chunk.byteLength * 2
      if (this.scratch === undefined || this.scratch.length < room) this.scratch = Buffer.allocUnsafeSlow(room)
      const src = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      return this.outputBytes(this.scratch.subarray(0, translateNewlines(src, this.scratch, 0)))
    }
    if (this.closed) return chunk.byteLength + (onlcr ? countNewlines(chunk) : 0)
    const now = this.clock()
    if (this.open && now - this.eventAt >= RECORDER_EVENT_MS) this.closeEvent()
    const before = this.translated.newlines
    const count = onlcr ? this.translated : undefined
    if (chunk.byteLength <= PIECE_BYTES) this.append(chunk, now, count)
    else for (let at = 0; at < chunk.byteLength; at += PIECE_BYTES) this.append(chunk.subarray(at, at + PIECE_BYTES), now, count)
    // the event reaches the file by the flush timer at the latest, even if nothing more is read
    this.timer ??= setTimeout(() => { this.flush() }, RECORDER_FLUSH_MS)
    return chunk.byteLength + this.translated.newlines - before
  }

  private append (piece: Uint8Array, now: number, onlcr: NewlineCount | undefined): void {
    if (this.open && this.eventLength + piece.byteLength * MAX_ESCAPE_BYTES > EVENT_CAPACITY) this.closeEvent()
    if (!this.open) {
      this.open = true
      this.eventAt = now
    }
    this.eventLength = escapeJson(piece, this.event, this.eventLength, onlcr)
    if (this.eventLength >= RECORDER_EVENT_BYTES) this.closeEvent()
  }

  /**
   * The terminal closed: the open event is ended, and a character left incomplete is recorded as
   * U+FFFD unless `dropPartial` (output cut at its limit). The next output starts afresh.
   */
  endOutput (dropPartial = false): void {
    this.closeEvent()
    if (this.eventLength > 0 && !dropPartial) this.line(JSON.stringify([this.seconds(this.clock()), 'o', '\uFFFD']))
    this.eventLength = 0
  }

  marker (label: string): void {
    this.closeEvent()
    this.line(JSON.stringify([this.seconds(this.clock()), 'm', label]))
  }

  resize (cols: number, rows: number): void {
    this.closeEvent()
    this.line(JSON.stringify([this.seconds(this.clock()), 'r', `${cols}x${rows}`]))
  }

  /** the open output event becomes a line; a character it ends inside of waits for the next event */
  private closeEvent (): void {
    if (!this.open) return
    this.open = false
    const end = this.eventLength - incompleteTail(this.event, this.eventLength)
    if (end === 0) return
    const body = this.event.subarray(0, end)
    const head = `[${this.seconds(this.eventAt)},"o","`
    if (isUtf8(body)) {
      this.room(head.length + end + 3)
      this.batchLength += this.batch.write(head, this.batchLength, 'latin1')
      this.batchLength += body.copy(this.batch, this.batchLength)
      this.batchLength += this.batch.write('"]\n', this.batchLength, 'latin1')
      this.wrote()
    } else {
      // escapes are ASCII, so decoding the escaped bytes replaces exactly what decoding the output would
      this.line(`${head}${body.toString('utf8')}"]`)
    }
    this.event.copyWithin(0, end, this.eventLength)
    this.eventLength -= end
  }

  /** one line of text, `\n` added */
  private line (text: string): void {
    if (this.closed) return
    const most = text.length * 3 + 1
    if (most > BATCH_CAPACITY) {
      this.writeBatch()
      this.writeOut(Buffer.from(`${text}\n`, 'utf8'))
      return
    }
    this.room(most)
    this.batchLength += this.batch.write(text, this.batchLength, 'utf8')
    this.batch[this.batchLength++] = 0x0a
    this.wrote()
  }

  /** make room for `bytes` more in the batch */
  private room (bytes: number): void {
    if (this.batchLength + bytes > this.batch.length) this.writeBatch()
  }

  /** after a line: the batch goes out once it is large enough, or by the flush timer */
  private wrote (): void {
    if (this.batchLength >= RECORDER_BATCH_BYTES) this.writeBatch()
    else this.timer ??= setTimeout(() => { this.flush() }, RECORDER_FLUSH_MS)
  }

  private flush (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.closeEvent()
    this.writeBatch()
  }

  private writeBatch (): void {
    if (this.batchLength === 0 || this.closed) return
    const full = this.batch
    this.writeOut(full.subarray(0, this.batchLength), () => { if (this.spare.length < SPARE_BATCHES) this.spare.push(full) })
    this.batch = this.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_CAPACITY)
    this.batchLength = 0
  }

  private writeOut (chunk: Buffer, done?: () => void): void {
    this.sha.update(chunk)
    if (!this.stream.write(chunk, done)) this.needDrain = true
  }

  /** sha256 of everything written, once `close()` resolved (for `adoptFile`'s `hashedAs`) */
  get sha256 (): string | undefined {
    return this.digest
  }

  /** Write what is pending and close the file; rejects if any write failed. */
  async close (): Promise<void> {
    if (this.closed) return
    this.flush()
    this.closed = true
    await new Promise<void>(resolve => this.stream.end(resolve))
    if (this.needDrain) {
      this.needDrain = false
      this.emit('drained')
    }
    if (this.error !== undefined) throw this.error
    this.digest = this.sha.digest('hex')
  }
}

function countNewlines (chunk: Uint8Array): number {
  let n = 0
  for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) n++
  return n
}
