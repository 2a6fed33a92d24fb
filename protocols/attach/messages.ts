import { decodeCbor, encodeCbor, isRecord } from '../codec/cbor.js'
import { MalformedMessageError, MessageTooLargeError } from '../codec/errors.js'
import {
  ATTACH_MAX_COLS, ATTACH_MAX_INPUT_CHUNK_BYTES, ATTACH_MAX_JOB_CHARS, ATTACH_MAX_OUTPUT_CHUNK_BYTES, ATTACH_MAX_REASON_CHARS,
  ATTACH_MAX_ROWS, ATTACH_MAX_WINDOW_BYTES
} from './constants.js'
import { ATTACH_REFUSAL_CODES } from './types.js'
import type { AttachEndState, AttachFrame, AttachMode, AttachRefusalCode } from './types.js'

/** client → server, the first frame */
export interface AttachHello {
  job: string
  mode: AttachMode
  /** the viewer's terminal size; an rw session resizes the job's terminal to it. Both or neither. */
  cols?: number
  rows?: number
  /** output bytes the server may send before more credit comes */
  window: number
}

/** server → client, the first frame */
export type AttachReply =
  | { ok: true, cols: number, rows: number, inputRate: number, inputBurst: number, inputMax: number }
  | { ok: false, error: string }

/** client → server, after the hello */
export type ClientFrame =
  | { type: 'input', data: Uint8Array }
  | { type: 'resize', cols: number, rows: number }
  | { type: 'credit', bytes: number }
  | { type: 'ping' }
  | { type: 'detach' }

/** server → client, after the reply: what a viewer sees, plus pings */
export type ServerFrame = AttachFrame | { type: 'ping' }

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isPositive = (v: unknown, max: number): v is number => isCount(v) && v >= 1 && v <= max

function onlyKeys (map: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(map)) {
    if (!allowed.includes(key)) throw new MalformedMessageError(`${what} has an unknown field ${JSON.stringify(key.slice(0, 40))}`)
  }
}

function decodeMap (bytes: Uint8Array, maxBytes: number, what: string): Record<string, unknown> {
  const raw = decodeCbor(bytes, maxBytes)
  if (!isRecord(raw)) throw new MalformedMessageError(`${what} is not a map`)
  return raw
}

function checkSize (raw: Record<string, unknown>, what: string): { cols: number, rows: number } {
  if (!isPositive(raw.cols, ATTACH_MAX_COLS)) throw new MalformedMessageError(`${what}: cols is not a whole number from 1 to ${ATTACH_MAX_COLS}`)
  if (!isPositive(raw.rows, ATTACH_MAX_ROWS)) throw new MalformedMessageError(`${what}: rows is not a whole number from 1 to ${ATTACH_MAX_ROWS}`)
  return { cols: raw.cols, rows: raw.rows }
}

/*
 * Keys and output, the frames of every keystroke, are written and read here without the generic
 * CBOR coder: `{ type: 'input' | 'output', data }` is always laid out the same way in canonical
 * CBOR (keys sorted, shortest lengths): map(2), "data", a byte string, "type", the type's text.
 * `encodeDataFrame` writes exactly what `encodeCbor` writes (a test holds them to it), and
 * `dataOf` accepts exactly that layout; a frame laid out any other way goes to the generic decoder,
 * which judges it as it always did.
 */
/** map(2), then the text "data" */
const DATA_HEAD = Uint8Array.from([0xa2, 0x64, 0x64, 0x61, 0x74, 0x61])
/** the text "type", then the text "input" or "output" */
const INPUT_TAIL = Uint8Array.from([0x64, 0x74, 0x79, 0x70, 0x65, 0x65, 0x69, 0x6e, 0x70, 0x75, 0x74])
const OUTPUT_TAIL = Uint8Array.from([0x64, 0x74, 0x79, 0x70, 0x65, 0x66, 0x6f, 0x75, 0x74, 0x70, 0x75, 0x74])

/** bytes of the shortest CBOR header of a byte string of `n` bytes */
function bytesHeaderLength (n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

function encodeDataFrame (data: Uint8Array, tail: Uint8Array): Uint8Array {
  const n = data.byteLength
  const head = bytesHeaderLength(n)
  const out = new Uint8Array(DATA_HEAD.byteLength + head + n + tail.byteLength)
  out.set(DATA_HEAD, 0)
  let at = DATA_HEAD.byteLength
  if (head === 1) {
    out[at++] = 0x40 + n
  } else if (head === 2) {
    out[at++] = 0x58
    out[at++] = n
  } else if (head === 3) {
    out[at++] = 0x59
    out[at++] = n >>> 8
    out[at++] = n & 0xff
  } else {
    out[at++] = 0x5a
    new DataView(out.buffer, out.byteOffset + at, 4).setUint32(0, n)
    at += 4
  }
  out.set(data, at)
  out.set(tail, at + n)
  return out
}

/** the data of a frame laid out exactly as `encodeDataFrame` lays it out with `tail`; undefined otherwise */
function dataOf (bytes: Uint8Array, tail: Uint8Array): Uint8Array | undefined {
  const h = DATA_HEAD.byteLength
  if (bytes.byteLength < h + 1 + tail.byteLength) return undefined
  for (let i = 0; i < h; i++) if (bytes[i] !== DATA_HEAD[i]) return undefined
  const first = bytes[h]
  let n: number
  let head: number
  if (first >= 0x40 && first < 0x58) {
    n = first - 0x40
    head = 1
  } else if (first === 0x58) {
    n = bytes[h + 1]
    head = 2
  } else if (first === 0x59) {
    n = (bytes[h + 1] << 8) | bytes[h + 2]
    head = 3
  } else if (first === 0x5a && bytes.byteLength >= h + 5) {
    n = new DataView(bytes.buffer, bytes.byteOffset + h + 1, 4).getUint32(0)
    head = 5
  } else {
    return undefined
  }
  // only the shortest header is canonical (the strict decoder refuses the others)
  if (bytesHeaderLength(n) !== head) return undefined
  const start = h + head
  if (bytes.byteLength !== start + n + tail.byteLength) return undefined
  for (let i = 0; i < tail.byteLength; i++) if (bytes[start + n + i] !== tail[i]) return undefined
  return bytes.subarray(start, start + n)
}

export function encodeHello (hello: AttachHello): Uint8Array { return encodeCbor(hello) }
export function encodeReply (reply: AttachReply): Uint8Array { return encodeCbor(reply) }
export function encodeClientFrame (frame: ClientFrame): Uint8Array {
  return frame.type === 'input' ? encodeDataFrame(frame.data, INPUT_TAIL) : encodeCbor(frame)
}
export function encodeServerFrame (frame: ServerFrame): Uint8Array {
  return frame.type === 'output' ? encodeDataFrame(frame.data, OUTPUT_TAIL) : encodeCbor(frame)
}

/** parse a hello; throws ERR_MALFORMED naming the problem */
export function parseHello (bytes: Uint8Array, maxBytes: number): AttachHello {
  const raw = decodeMap(bytes, maxBytes, 'attach hello')
  onlyKeys(raw, ['job', 'mode', 'cols', 'rows', 'window'], 'attach hello')
  const { job, mode, window } = raw
  if (typeof job !== 'string' || job.length === 0 || job.length > ATTACH_MAX_JOB_CHARS) {
    throw new MalformedMessageError(`attach hello: job is not a string of 1 to ${ATTACH_MAX_JOB_CHARS} characters`)
  }
  if (mode !== 'ro' && mode !== 'rw') throw new MalformedMessageError('attach hello: mode is not "ro" or "rw"')
  if (!isPositive(window, ATTACH_MAX_WINDOW_BYTES)) throw new MalformedMessageError(`attach hello: window is not a whole number from 1 to ${ATTACH_MAX_WINDOW_BYTES}`)
  if (raw.cols === undefined && raw.rows === undefined) return { job, mode, window }
  return { job, mode, ...checkSize(raw, 'attach hello'), window }
}

/** parse a reply; throws ERR_MALFORMED (the caller turns `ok: false` into a typed error) */
export function parseReply (bytes: Uint8Array, maxBytes: number): AttachReply {
  const raw = decodeMap(bytes, maxBytes, 'attach reply')
  if (raw.ok === false) {
    onlyKeys(raw, ['ok', 'error'], 'attach error reply')
    if (typeof raw.error !== 'string' || raw.error.length === 0 || raw.error.length > 64) throw new MalformedMessageError('attach error reply: bad code')
    return { ok: false, error: raw.error }
  }
  if (raw.ok !== true) throw new MalformedMessageError('attach reply: ok is not a boolean')
  onlyKeys(raw, ['ok', 'cols', 'rows', 'inputRate', 'inputBurst', 'inputMax'], 'attach reply')
  const { inputRate, inputBurst, inputMax } = raw
  if (!isPositive(inputRate, Number.MAX_SAFE_INTEGER)) throw new MalformedMessageError('attach reply: inputRate is not a positive integer')
  if (!isPositive(inputBurst, Number.MAX_SAFE_INTEGER)) throw new MalformedMessageError('attach reply: inputBurst is not a positive integer')
  if (!isPositive(inputMax, ATTACH_MAX_INPUT_CHUNK_BYTES)) throw new MalformedMessageError(`attach reply: inputMax is not a whole number from 1 to ${ATTACH_MAX_INPUT_CHUNK_BYTES}`)
  return { ok: true, ...checkSize(raw, 'attach reply'), inputRate, inputBurst, inputMax }
}

function inputData (data: unknown): Uint8Array {
  if (!(data instanceof Uint8Array) || data.byteLength === 0 || data.byteLength > ATTACH_MAX_INPUT_CHUNK_BYTES) {
    throw new MalformedMessageError(`attach input frame: data is not 1 to ${ATTACH_MAX_INPUT_CHUNK_BYTES} bytes`)
  }
  return data
}

function outputData (data: unknown): Uint8Array {
  if (!(data instanceof Uint8Array) || data.byteLength === 0 || data.byteLength > ATTACH_MAX_OUTPUT_CHUNK_BYTES) {
    throw new MalformedMessageError(`attach output frame: data is not 1 to ${ATTACH_MAX_OUTPUT_CHUNK_BYTES} bytes`)
  }
  return data
}

/** parse a client frame after the hello; throws ERR_MALFORMED */
export function parseClientFrame (bytes: Uint8Array, maxBytes: number): ClientFrame {
  if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(bytes.byteLength, maxBytes)
  const keys = dataOf(bytes, INPUT_TAIL)
  if (keys !== undefined) return { type: 'input', data: inputData(keys) }
  const raw = decodeMap(bytes, maxBytes, 'attach frame')
  switch (raw.type) {
    case 'input':
      onlyKeys(raw, ['type', 'data'], 'attach input frame')
      return { type: 'input', data: inputData(raw.data) }
    case 'resize':
      onlyKeys(raw, ['type', 'cols', 'rows'], 'attach resize frame')
      return { type: 'resize', ...checkSize(raw, 'attach resize frame') }
    case 'credit':
      onlyKeys(raw, ['type', 'bytes'], 'attach credit frame')
      if (!isPositive(raw.bytes, ATTACH_MAX_WINDOW_BYTES)) throw new MalformedMessageError('attach credit frame: bytes is not a positive integer within the window limit')
      return { type: 'credit', bytes: raw.bytes }
    case 'ping':
    case 'detach':
      onlyKeys(raw, ['type'], `attach ${raw.type} frame`)
      return { type: raw.type }
    default:
      throw new MalformedMessageError('attach frame: unknown type')
  }
}

function parseEnd (raw: Record<string, unknown>): AttachEndState {
  onlyKeys(raw, ['type', 'state', 'exitCode', 'reason'], 'attach end frame')
  const { state, exitCode, reason } = raw
  if (typeof state !== 'string' || !/^[a-z][a-z-]{0,31}$/.test(state)) throw new MalformedMessageError('attach end frame: state is not a state name')
  if (exitCode !== null && !(typeof exitCode === 'number' && Number.isSafeInteger(exitCode))) throw new MalformedMessageError('attach end frame: exitCode is not an integer or null')
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > ATTACH_MAX_REASON_CHARS)) throw new MalformedMessageError('attach end frame: reason is not a short string')
  // a state this version does not know is passed on as is: newer nodes may add states
  const end: AttachEndState = { state: state as AttachEndState['state'], exitCode }
  if (reason !== undefined) end.reason = reason
  return end
}

/** parse a server frame after the reply; throws ERR_MALFORMED */
export function parseServerFrame (bytes: Uint8Array, maxBytes: number): ServerFrame {
  if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(bytes.byteLength, maxBytes)
  const output = dataOf(bytes, OUTPUT_TAIL)
  if (output !== undefined) return { type: 'output', data: outputData(output) }
  const raw = decodeMap(bytes, maxBytes, 'attach frame')
  switch (raw.type) {
    case 'output':
      onlyKeys(raw, ['type', 'data'], 'attach output frame')
      return { type: 'output', data: outputData(raw.data) }
    case 'resize':
      onlyKeys(raw, ['type', 'cols', 'rows'], 'attach resize frame')
      return { type: 'resize', ...checkSize(raw, 'attach resize frame') }
    case 'resync':
      onlyKeys(raw, ['type', 'dropped'], 'attach resync frame')
      if (!isCount(raw.dropped)) throw new MalformedMessageError('attach resync frame: dropped is not a count')
      return { type: 'resync', dropped: raw.dropped }
    case 'refused': {
      onlyKeys(raw, ['type', 'what', 'code'], 'attach refused frame')
      const { what, code } = raw
      if (what !== 'input' && what !== 'resize') throw new MalformedMessageError('attach refused frame: what is not "input" or "resize"')
      if (!(ATTACH_REFUSAL_CODES as readonly unknown[]).includes(code)) throw new MalformedMessageError('attach refused frame: unknown code')
      return { type: 'refused', what, code: code as AttachRefusalCode }
    }
    case 'ping':
      onlyKeys(raw, ['type'], 'attach ping frame')
      return { type: 'ping' }
    case 'end':
      return { type: 'end', ...parseEnd(raw) }
    default:
      throw new MalformedMessageError('attach frame: unknown type')
  }
}
