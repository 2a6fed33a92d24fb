/**
 * An asciicast v2 recording (https://docs.asciinema.org/manual/asciicast/v2/), streamed to a file
 * while the job runs: a header line, then one JSON array per event:
 * `[seconds, "o", text]` output, `[seconds, "m", label]` markers, `[seconds, "r", "COLSxROWS"]` resizes.
 *
 * Lines are batched (RECORDER_BATCH_BYTES or RECORDER_FLUSH_MS) so a chatty job costs few writes;
 * `congested` turns true while more than RECORDER_HIGH_WATER_BYTES wait for the disk, and the
 * caller pauses the pty until `drained` fires, so memory stays bounded whatever the job prints.
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { EventEmitter } from 'node:events'
import { RECORDER_BATCH_BYTES, RECORDER_FLUSH_MS, RECORDER_HIGH_WATER_BYTES } from './constants.js'
import type { WriteStream } from 'node:fs'

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
  private readonly started = performance.now()
  private pending: string[] = []
  private pendingLength = 0
  private timer: NodeJS.Timeout | undefined
  private error: Error | undefined
  private closed = false
  private needDrain = false
  /** the file's bytes, hashed as they are written: the store takes this instead of reading them back */
  private readonly sha = createHash('sha256')
  private digest?: string

  constructor (path: string, header: CastHeader) {
    super()
    this.stream = createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: RECORDER_HIGH_WATER_BYTES })
    this.stream.on('error', err => { this.error ??= err })
    this.stream.on('drain', () => {
      this.needDrain = false
      this.emit('drained')
    })
    this.push(JSON.stringify({ version: 2, ...header }))
  }

  /** true while the disk lags: stop reading the pty until `drained` */
  get congested (): boolean {
    return this.needDrain
  }

  /** seconds since the recording started, to the microsecond */
  private now (): number {
    return Math.round((performance.now() - this.started) * 1000) / 1e6
  }

  output (text: string): void {
    if (text !== '') this.push(JSON.stringify([this.now(), 'o', text]))
  }

  marker (label: string): void {
    this.push(JSON.stringify([this.now(), 'm', label]))
  }

  resize (cols: number, rows: number): void {
    this.push(JSON.stringify([this.now(), 'r', `${cols}x${rows}`]))
  }

  private push (line: string): void {
    if (this.closed) return
    this.pending.push(line, '\n')
    this.pendingLength += line.length + 1
    if (this.pendingLength >= RECORDER_BATCH_BYTES) this.flush()
    else this.timer ??= setTimeout(() => { this.flush() }, RECORDER_FLUSH_MS)
  }

  private flush (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (this.pending.length === 0) return
    const chunk = Buffer.from(this.pending.join(''), 'utf8')
    this.pending = []
    this.pendingLength = 0
    this.sha.update(chunk)
    if (!this.stream.write(chunk)) this.needDrain = true
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
