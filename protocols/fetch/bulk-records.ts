/**
 * The client's record parser for the bulk channel. The ciphertext of a record is gathered in one
 * buffer reused for every record and deciphered in one call once it is whole, so a record costs
 * one allocation (its plaintext, which the sink keeps) however the socket splits it; socket reads
 * can land in a fixed buffer too (`READ_BUFFER_BYTES`, net's `onread`). Freed native buffers of
 * every size are what kept the fetcher's memory high after a transfer.
 */
import { MalformedMessageError } from '../codec/errors.js'
import { BULK_RECORD_BYTES } from './constants.js'
import { RECORD_HEADER_BYTES, TAG_BYTES, recordDecipher } from './bulk-wire.js'
import type { FetchSink } from './client.js'

/** bytes of the fixed buffer a bulk socket reads into */
export const READ_BUFFER_BYTES = 256 * 1024

/** the sink threw: its error goes to the caller as it is */
export class SinkFailure extends Error {
  constructor (readonly err: unknown) {
    super('the sink failed', { cause: err })
  }
}

export class RecordReader {
  /** plaintext bytes handed to the sink so far */
  received = 0
  private index = 0
  private readonly head = Buffer.alloc(RECORD_HEADER_BYTES)
  private headHave = 0
  private length = -1
  private readonly body: Buffer
  private bodyHave = 0
  private readonly tag = Buffer.alloc(TAG_BYTES)
  private tagHave = 0

  constructor (
    private readonly key: Uint8Array,
    private readonly ticket: Uint8Array,
    private readonly want: number,
    private readonly sink: FetchSink,
    maxRecordBytes = BULK_RECORD_BYTES
  ) {
    this.body = Buffer.allocUnsafe(Math.min(maxRecordBytes, want))
  }

  get done (): boolean { return this.received === this.want }

  /**
   * Parse `buf[off..end)`. Returns the offset reached and, when a record completed there, the
   * sink's pending promise: the caller must not reuse `buf` nor feed more before it settles, then
   * feed the rest from the offset. Throws ERR_MALFORMED for a bad length, a record that does not
   * authenticate, or bytes after the range; a sink's throw comes as a rejected `SinkFailure`.
   */
  feed (buf: Uint8Array, off: number, end: number): { off: number, pending?: Promise<void> } {
    while (off < end) {
      if (this.length < 0) {
        const n = Math.min(RECORD_HEADER_BYTES - this.headHave, end - off)
        this.head.set(buf.subarray(off, off + n), this.headHave)
        this.headHave += n
        off += n
        if (this.headHave < RECORD_HEADER_BYTES) continue
        const length = this.head.readUInt32BE(0)
        const fits = Math.min(this.body.byteLength, this.want - this.received)
        if (length === 0 || length > fits) throw new MalformedMessageError(`a bulk record of ${length} bytes where at most ${fits} fit`)
        this.length = length
      } else if (this.bodyHave < this.length) {
        const n = Math.min(this.length - this.bodyHave, end - off)
        this.body.set(buf.subarray(off, off + n), this.bodyHave)
        this.bodyHave += n
        off += n
      } else {
        const n = Math.min(TAG_BYTES - this.tagHave, end - off)
        this.tag.set(buf.subarray(off, off + n), this.tagHave)
        this.tagHave += n
        off += n
        if (this.tagHave < TAG_BYTES) continue
        const record = this.open()
        this.received += record.byteLength
        if (this.done && off < end) throw new MalformedMessageError('bytes after the end of the range')
        let r: void | Promise<void>
        try {
          r = this.sink(record)
        } catch (err) {
          throw new SinkFailure(err)
        }
        if (r != null) return { off, pending: r.catch((err: unknown) => { throw new SinkFailure(err) }) }
      }
    }
    return { off }
  }

  /** the plaintext of the record just read, once its tag checks out */
  private open (): Buffer {
    const decipher = recordDecipher(this.key, this.ticket, this.index)
    const plain = decipher.update(this.body.subarray(0, this.length))
    decipher.setAuthTag(this.tag)
    try {
      decipher.final()
    } catch (err) {
      throw new MalformedMessageError('a bulk record did not authenticate: altered, dropped or out of order', { cause: err })
    }
    this.index++
    this.headHave = 0
    this.length = -1
    this.bodyHave = 0
    this.tagHave = 0
    return plain
  }
}
