import { decodeCbor, encodeCbor, isRecord } from '../codec/cbor.js'
import { MalformedMessageError } from '../codec/errors.js'
import { FETCH_MAX_ERROR_CHARS, FETCH_MAX_WINDOW_BYTES } from './constants.js'
import { FetchRemoteError } from './errors.js'

/** client → server, first frame: bytes `start` (inclusive) to `end` (exclusive, default the blob's size) */
export interface FetchRequest {
  /** 64 lowercase hex digits */
  hash: string
  start: number
  end?: number
}

/** server → client, first frame: `ok` then exactly the requested bytes follow, unframed */
export type FetchHeader =
  | { ok: true, size: number }
  | { ok: false, error: FetchErrorCode }

/** client → server, any number after the request: the server may send `credit` more bytes */
export interface FetchCredit {
  credit: number
}

/** the status codes a server answers with instead of data; a reply never carries details */
export const FETCH_ERROR_CODES = [
  'ERR_NOT_ALLOWED', 'ERR_NOT_FOUND', 'ERR_INVALID_RANGE', 'ERR_MALFORMED', 'ERR_TOO_LARGE', 'ERR_BUSY', 'ERR_INTERNAL'
] as const
export type FetchErrorCode = typeof FETCH_ERROR_CODES[number]

const WIRE_HASH = /^[0-9a-f]{64}$/

function isCount (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function onlyKeys (map: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(map)) {
    if (!allowed.includes(key)) throw new MalformedMessageError(`${what} has an unknown field ${JSON.stringify(key.slice(0, 40))}`)
  }
}

export function encodeRequest (req: FetchRequest): Uint8Array {
  return encodeCbor(req)
}

export function encodeHeader (header: FetchHeader): Uint8Array {
  return encodeCbor(header)
}

export function encodeCredit (credit: number): Uint8Array {
  return encodeCbor({ credit } satisfies FetchCredit)
}

/** parse a request frame; throws ERR_MALFORMED naming the problem (range against the blob is the server's check) */
export function parseRequest (bytes: Uint8Array, maxBytes: number): FetchRequest {
  const raw = decodeCbor(bytes, maxBytes)
  if (!isRecord(raw)) throw new MalformedMessageError('fetch request is not a map')
  onlyKeys(raw, ['hash', 'start', 'end'], 'fetch request')
  const { hash, start, end } = raw
  if (typeof hash !== 'string' || !WIRE_HASH.test(hash)) throw new MalformedMessageError('fetch request: hash is not 64 lowercase hex digits')
  if (!isCount(start)) throw new MalformedMessageError('fetch request: start is not a non-negative integer')
  if (end !== undefined && !isCount(end)) throw new MalformedMessageError('fetch request: end is not a non-negative integer')
  if (end !== undefined && end < start) throw new MalformedMessageError('fetch request: end is before start')
  return end === undefined ? { hash, start } : { hash, start, end }
}

/** parse a credit frame; throws ERR_MALFORMED */
export function parseCredit (bytes: Uint8Array, maxBytes: number): number {
  const raw = decodeCbor(bytes, maxBytes)
  if (!isRecord(raw)) throw new MalformedMessageError('fetch credit is not a map')
  onlyKeys(raw, ['credit'], 'fetch credit')
  if (!isCount(raw.credit) || raw.credit === 0 || raw.credit > FETCH_MAX_WINDOW_BYTES) {
    throw new MalformedMessageError('fetch credit: credit is not a positive integer within the window limit')
  }
  return raw.credit
}

/** parse a reply header: the blob's size, or ERR_REMOTE with the server's code; ERR_MALFORMED if neither */
export function parseHeader (bytes: Uint8Array, maxBytes: number): { size: number } {
  const raw = decodeCbor(bytes, maxBytes)
  if (!isRecord(raw)) throw new MalformedMessageError('fetch reply header is not a map')
  if (raw.ok === false) {
    onlyKeys(raw, ['ok', 'error'], 'fetch error reply')
    const code = raw.error
    if (typeof code !== 'string' || code.length === 0 || code.length > FETCH_MAX_ERROR_CHARS) {
      throw new MalformedMessageError('fetch error reply: error is not a short code')
    }
    // an unknown code from a newer peer is still an error reply: pass it on as it is
    throw new FetchRemoteError(code)
  }
  if (raw.ok !== true) throw new MalformedMessageError('fetch reply header: ok is not a boolean')
  onlyKeys(raw, ['ok', 'size'], 'fetch reply header')
  if (!isCount(raw.size)) throw new MalformedMessageError('fetch reply header: size is not a non-negative integer')
  return { size: raw.size }
}
