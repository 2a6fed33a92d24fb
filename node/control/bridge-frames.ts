/**
 * The framing of `cit-node attach` on the control socket (after the HTTP upgrade to
 * `cit-attach/2`): a kind byte, a 4-byte big-endian length, then the payload. Terminal bytes go
 * as they are (`data`: output to the CLI, keys to the daemon), with no JSON or base64 on the
 * path of a keystroke; the rare rest (hello, resize, resync, refused, end, error, detach) is one
 * JSON object in a `control` frame.
 */
import { MalformedMessageError } from '../../protocols/codec/errors.js'
import type { Readable } from 'node:stream'

/** the Upgrade token of this framing; a CLI or daemon speaking the JSON lines of old gets a 426 */
export const ATTACH_BRIDGE_UPGRADE = 'cit-attach/2'

export const BRIDGE_KIND = { data: 1, control: 2 } as const
export type BridgeFrameKind = keyof typeof BRIDGE_KIND

const HEADER_BYTES = 5

export type BridgeFrame =
  | { kind: 'data', data: Buffer }
  | { kind: 'control', msg: Record<string, unknown> }

/** one `data` frame: the header and `data` in one buffer (one write, one syscall) */
export function dataFrame (data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.byteLength)
  out[0] = BRIDGE_KIND.data
  out.writeUInt32BE(data.byteLength, 1)
  out.set(data, HEADER_BYTES)
  return out
}

/** one `control` frame carrying `msg` as JSON */
export function controlFrame (msg: Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify(msg), 'utf8')
  const out = Buffer.allocUnsafe(HEADER_BYTES + json.byteLength)
  out[0] = BRIDGE_KIND.control
  out.writeUInt32BE(json.byteLength, 1)
  json.copy(out, HEADER_BYTES)
  return out
}

/**
 * Cuts a byte stream into frames. A frame over `maxBytes`, an unknown kind or a control frame
 * that is not a JSON object is ERR_MALFORMED: the caller closes the connection.
 */
export class BridgeFrameDecoder {
  private buf: Buffer = Buffer.alloc(0)

  constructor (private readonly maxBytes: number) {}

  /** bytes held that do not make a whole frame yet */
  get pending (): number { return this.buf.byteLength }

  push (chunk: Buffer): BridgeFrame[] {
    this.buf = this.buf.byteLength === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const frames: BridgeFrame[] = []
    while (this.buf.byteLength >= HEADER_BYTES) {
      const kind = this.buf[0]
      const length = this.buf.readUInt32BE(1)
      if (kind !== BRIDGE_KIND.data && kind !== BRIDGE_KIND.control) throw new MalformedMessageError(`attach bridge: unknown frame kind ${kind}`)
      if (length > this.maxBytes) throw new MalformedMessageError(`attach bridge: a frame of ${length} bytes is over the limit of ${this.maxBytes}`)
      if (this.buf.byteLength < HEADER_BYTES + length) break
      const payload = this.buf.subarray(HEADER_BYTES, HEADER_BYTES + length)
      this.buf = this.buf.subarray(HEADER_BYTES + length)
      frames.push(kind === BRIDGE_KIND.data ? { kind: 'data', data: payload } : { kind: 'control', msg: parseControl(payload) })
    }
    return frames
  }
}

function parseControl (payload: Buffer): Record<string, unknown> {
  let msg: unknown
  try {
    msg = JSON.parse(payload.toString('utf8'))
  } catch (err) {
    throw new MalformedMessageError('attach bridge: a control frame is not JSON', { cause: err })
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw new MalformedMessageError('attach bridge: a control frame is not a JSON object')
  return msg as Record<string, unknown>
}

/**
 * Frames as they arrive on `input`, handed to `onFrame` in the same turn of the event loop as
 * the read that brought them (no async iteration between the socket and the caller: a key is
 * one callback away from its bytes). `onEnd` is called once: with no error at the end of the
 * input, with ERR_MALFORMED for a bad frame or input that ends inside one, or with the socket's
 * error. Returns a function that stops listening.
 */
export function onBridgeFrames (input: Readable, maxBytes: number, onFrame: (frame: BridgeFrame) => void, onEnd: (err?: Error) => void): () => void {
  const decoder = new BridgeFrameDecoder(maxBytes)
  let done = false
  const stop = (): void => {
    input.off('data', onData)
    input.off('end', onInputEnd)
    input.off('error', onError)
    input.off('close', onInputEnd)
  }
  const finish = (err?: Error): void => {
    if (done) return
    done = true
    stop()
    onEnd(err)
  }
  const onData = (chunk: Buffer): void => {
    let frames: BridgeFrame[]
    try {
      frames = decoder.push(chunk)
    } catch (err) {
      finish(err as Error)
      return
    }
    for (const frame of frames) {
      if (done) return
      onFrame(frame)
    }
  }
  const onInputEnd = (): void => { finish(decoder.pending > 0 ? new MalformedMessageError('attach bridge: the connection ended inside a frame') : undefined) }
  const onError = (err: Error): void => { finish(err) }
  input.on('data', onData)
  input.once('end', onInputEnd)
  input.once('close', onInputEnd)
  input.once('error', onError)
  return () => {
    done = true
    stop()
  }
}
