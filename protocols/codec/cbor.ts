import { decode, encode } from 'cborg'
import { MalformedMessageError, MessageTooLargeError } from './errors.js'
import type { DecodeOptions } from 'cborg'

/** Decoding rules for everything that crosses a trust boundary: no undefined, no indefinite lengths, strict ints. */
const STRICT: DecodeOptions = {
  strict: true,
  allowUndefined: false,
  allowIndefinite: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true
}

/** Canonical CBOR (cborg sorts map keys and uses minimal integers by default). Undefined fields are dropped. */
export function encodeCbor (value: unknown): Uint8Array {
  return encode(value, { ignoreUndefinedProperties: true })
}

/**
 * Decode untrusted CBOR. The size is checked before any parsing work; anything malformed is an
 * ERR_MALFORMED error, never a crash.
 */
export function decodeCbor (bytes: Uint8Array, maxBytes: number): unknown {
  if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(bytes.byteLength, maxBytes)
  try {
    return decode(bytes, STRICT)
  } catch (err) {
    throw new MalformedMessageError('not valid CBOR', { cause: err })
  }
}

/** true for a plain object produced by the decoder (not an array, not bytes) */
export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}
