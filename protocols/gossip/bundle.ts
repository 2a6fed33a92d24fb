import { ownBytes } from '../codec/bytes.js'
import { decodeCbor, encodeCbor } from '../codec/cbor.js'
import { MalformedMessageError, NonCanonicalError } from '../codec/errors.js'
import { GOSSIP_MAX_MESSAGE_BYTES } from './constants.js'

/** fewest and most signed records one bundle carries */
export const BUNDLE_MIN_RECORDS = 2
export const BUNDLE_MAX_RECORDS = 8

/**
 * A bundle: signed records one node made together (a job's announcement and the events it signed
 * with it, such as a result cache hit's `submitted` and `finished`), sent as one gossip message.
 * Its bytes are the canonical CBOR array of the records' envelope bytes, in order; it adds no
 * signature of its own: every record in it is checked as if it had come alone (docs/protocols/gossip.md).
 */
export function encodeBundle (records: readonly Uint8Array[]): Uint8Array {
  if (records.length < BUNDLE_MIN_RECORDS || records.length > BUNDLE_MAX_RECORDS) throw new RangeError(`a bundle carries ${BUNDLE_MIN_RECORDS} to ${BUNDLE_MAX_RECORDS} records`)
  return encodeCbor([...records])
}

/**
 * The records of a bundle's bytes. Throws ERR_TOO_LARGE, ERR_MALFORMED (not an array of
 * BUNDLE_MIN_RECORDS to BUNDLE_MAX_RECORDS byte strings) or ERR_NON_CANONICAL (another encoding
 * of the same array: one bundle, one byte string). The records themselves are not opened here.
 */
export function decodeBundle (bytes: Uint8Array, maxBytes = GOSSIP_MAX_MESSAGE_BYTES): Uint8Array[] {
  const raw = decodeCbor(bytes, maxBytes)
  if (!Array.isArray(raw)) throw new MalformedMessageError('a bundle is an array')
  if (raw.length < BUNDLE_MIN_RECORDS || raw.length > BUNDLE_MAX_RECORDS) throw new MalformedMessageError(`a bundle carries ${BUNDLE_MIN_RECORDS} to ${BUNDLE_MAX_RECORDS} records, not ${raw.length}`)
  if (!raw.every((r): r is Uint8Array => r instanceof Uint8Array && r.byteLength > 0)) throw new MalformedMessageError('a bundle\'s records are byte strings')
  const again = encodeCbor(raw)
  if (again.byteLength !== bytes.byteLength || !Buffer.from(again.buffer, again.byteOffset, again.byteLength).equals(bytes)) throw new NonCanonicalError('bundle is not in canonical CBOR')
  // each record may be kept (held, stored): its own bytes, not a view into the message
  return raw.map(ownBytes)
}
