import { createHash } from 'node:crypto'
import { decodeCbor, encodeCbor, isRecord } from './cbor.js'
import { MalformedMessageError, NonCanonicalError } from './errors.js'
import { keyIdOf, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifySignature } from './keys.js'
import type { Identity } from './keys.js'

export const ENVELOPE_VERSION = 1
/** the largest signed envelope accepted from anywhere */
export const MAX_ENVELOPE_BYTES = 256 * 1024
const DOMAIN = new TextEncoder().encode('cit-node/envelope/v1\0')

/**
 * A signed message: `t` names the kind (job, event, load, grant…), `p` is the CBOR payload's
 * exact bytes, `k` the signer's public key and `s` the signature over DOMAIN‖t‖0‖p.
 * Verification always runs over the bytes received, never a re-encoding, and the bytes received
 * must be the one canonical encoding of the envelope and of its payload: one message, one byte
 * string, so nobody can make an old message look new by re-encoding it.
 */
export interface Envelope {
  v: number
  t: string
  p: Uint8Array
  k: Uint8Array
  s: Uint8Array
}

/** A verified envelope with its decoded payload, the signer's key id and the envelope's hash. */
export interface Signed<T> {
  type: string
  payload: T
  signer: string
  /** the message's identity: sha256 hex of what was signed and by whom (see `idOf`), never of the encoding */
  hash: string
  bytes: Uint8Array
}

function signingInput (type: string, payload: Uint8Array): Uint8Array {
  const t = new TextEncoder().encode(type)
  const out = new Uint8Array(DOMAIN.byteLength + t.byteLength + 1 + payload.byteLength)
  out.set(DOMAIN, 0)
  out.set(t, DOMAIN.byteLength)
  out.set(payload, DOMAIN.byteLength + t.byteLength + 1)
  return out
}

export function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** a message's id: sha256 of DOMAIN‖t‖0‖p‖k, the signed content and its signer (not the signature, not the envelope's encoding) */
function idOf (type: string, payload: Uint8Array, key: Uint8Array): string {
  return createHash('sha256').update(signingInput(type, payload)).update(key).digest('hex')
}

/**
 * The id of an envelope this node stored or signed itself, without verifying it again (its
 * signature was checked when it arrived). Throws ERR_MALFORMED for bytes that are no envelope.
 */
export function recordId (bytes: Uint8Array): string {
  const raw = decodeCbor(bytes, MAX_ENVELOPE_BYTES)
  if (!isRecord(raw) || typeof raw.t !== 'string' || !(raw.p instanceof Uint8Array) || !(raw.k instanceof Uint8Array)) throw new MalformedMessageError('not an envelope')
  return idOf(raw.t, raw.p, raw.k)
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

/** Sign `payload` (canonical CBOR) as a message of kind `type`; returns the envelope's bytes. */
export function seal<T> (identity: Identity, type: string, payload: T): Signed<T> {
  const p = encodeCbor(payload)
  const env: Envelope = { v: ENVELOPE_VERSION, t: type, p, k: identity.publicKey, s: identity.sign(signingInput(type, p)) }
  const bytes = encodeCbor(env)
  return { type, payload, signer: identity.id, hash: idOf(type, p, identity.publicKey), bytes }
}

/**
 * Decode and verify an envelope. Throws ERR_TOO_LARGE, ERR_MALFORMED, ERR_NON_CANONICAL (bytes
 * that decode but are not what encoding the decoded value gives: another key order, a longer
 * integer or float, another map or string form) or ERR_BAD_SIGNATURE. The payload's shape is the
 * caller's to validate.
 */
export function open (bytes: Uint8Array, options: { expectType?: string, maxBytes?: number } = {}): Signed<unknown> {
  const raw = decodeCbor(bytes, options.maxBytes ?? MAX_ENVELOPE_BYTES)
  if (!isRecord(raw)) throw new MalformedMessageError('envelope is not a map')
  const { v, t, p, k, s } = raw
  if (v !== ENVELOPE_VERSION) throw new MalformedMessageError(`envelope version ${String(v)} is not supported`)
  if (typeof t !== 'string' || t.length === 0 || t.length > 32) throw new MalformedMessageError('envelope type is missing or too long')
  if (options.expectType != null && t !== options.expectType) throw new MalformedMessageError(`expected a ${options.expectType} message, got ${t}`)
  if (!(p instanceof Uint8Array)) throw new MalformedMessageError('envelope payload is not bytes')
  if (!(k instanceof Uint8Array) || k.byteLength !== PUBLIC_KEY_BYTES) throw new MalformedMessageError('envelope key is not 32 bytes')
  if (!(s instanceof Uint8Array) || s.byteLength !== SIGNATURE_BYTES) throw new MalformedMessageError('envelope signature is not 64 bytes')
  if (Object.keys(raw).length !== 5) throw new MalformedMessageError('envelope has unknown fields')
  if (!sameBytes(encodeCbor({ v, t, p, k, s }), bytes)) throw new NonCanonicalError('envelope is not in canonical CBOR')
  verifySignature(k, signingInput(t, p), s)
  const payload = decodeCbor(p, options.maxBytes ?? MAX_ENVELOPE_BYTES)
  if (!sameBytes(encodeCbor(payload), p)) throw new NonCanonicalError('payload is not in canonical CBOR')
  return { type: t, payload, signer: keyIdOf(k), hash: idOf(t, p, k), bytes }
}
