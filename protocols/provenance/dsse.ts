/**
 * DSSE envelopes (https://github.com/secure-systems-lab/dsse): a payload, its type, and
 * signatures over PAE(type, payload). Keys are node keys: a signature's `keyid` is the signer's
 * key id (a libp2p peer id), which embeds its Ed25519 public key, so a verifier needs no key
 * server, only the mesh's trust records to say whether that key held a role.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { verifySignature } from '../codec/keys.js'
import { BadSignatureError } from '../codec/errors.js'
import { MAX_SIGNATURES, MAX_STATEMENT_BYTES } from './constants.js'
import { MalformedStatementError } from './errors.js'
import type { Identity } from '../codec/keys.js'

export interface DsseSignature {
  /** the signer's key id */
  keyid: string
  /** base64 of the Ed25519 signature over PAE(payloadType, payload) */
  sig: string
}

/** A DSSE envelope as JSON carries it: the payload base64-encoded. */
export interface DsseEnvelope {
  payloadType: string
  /** base64 of the payload bytes */
  payload: string
  signatures: DsseSignature[]
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** DSSE's pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body */
export function pae (payloadType: string, payload: Uint8Array): Uint8Array {
  const type = Buffer.from(payloadType, 'utf8')
  const head = Buffer.from(`DSSEv1 ${type.byteLength} ${payloadType} ${payload.byteLength} `, 'utf8')
  return Buffer.concat([head, payload])
}

/** one signature by `identity` over the payload */
export function signPayload (identity: Identity, payloadType: string, payload: Uint8Array): DsseSignature {
  return { keyid: identity.id, sig: Buffer.from(identity.sign(pae(payloadType, payload))).toString('base64') }
}

/** a new envelope signed by `identity`, as the bytes stored and hashed */
export function sealEnvelope (identity: Identity, payloadType: string, payload: Uint8Array): Uint8Array {
  const env: DsseEnvelope = { payloadType, payload: Buffer.from(payload).toString('base64'), signatures: [signPayload(identity, payloadType, payload)] }
  return Buffer.from(JSON.stringify(env), 'utf8')
}

/** Parse an envelope's JSON bytes; ERR_MALFORMED_STATEMENT for anything else. */
export function parseEnvelope (bytes: Uint8Array): { envelope: DsseEnvelope, payload: Uint8Array } {
  if (bytes.byteLength > MAX_STATEMENT_BYTES) throw new MalformedStatementError(`envelope of ${bytes.byteLength} bytes is over the limit of ${MAX_STATEMENT_BYTES}`)
  let raw: any
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new MalformedStatementError('the envelope is not JSON')
  }
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) throw new MalformedStatementError('the envelope is not an object')
  if (typeof raw.payloadType !== 'string' || raw.payloadType.length > 256) throw new MalformedStatementError('the envelope has no payloadType')
  if (typeof raw.payload !== 'string' || !BASE64.test(raw.payload)) throw new MalformedStatementError('the envelope payload is not base64')
  if (!Array.isArray(raw.signatures) || raw.signatures.length > MAX_SIGNATURES) throw new MalformedStatementError('the envelope signatures are not a list within the limit')
  const signatures: DsseSignature[] = []
  for (const s of raw.signatures) {
    if (s == null || typeof s.keyid !== 'string' || s.keyid.length > 128 || typeof s.sig !== 'string' || s.sig.length > 256 || !BASE64.test(s.sig)) {
      throw new MalformedStatementError('an envelope signature is malformed')
    }
    signatures.push({ keyid: s.keyid, sig: s.sig })
  }
  const envelope: DsseEnvelope = { payloadType: raw.payloadType, payload: raw.payload, signatures }
  return { envelope, payload: Buffer.from(raw.payload, 'base64') }
}

/** the raw Ed25519 public key a key id embeds; ERR_BAD_SIGNATURE when it embeds none */
export function publicKeyOf (keyid: string): Uint8Array {
  try {
    const key = peerIdFromString(keyid).publicKey
    if (key?.type === 'Ed25519') return key.raw
  } catch {}
  throw new BadSignatureError(`${keyid} is not an Ed25519 key id`)
}

/** Verify one signature over the payload; throws ERR_BAD_SIGNATURE when it does not verify. */
export function verifyPayloadSignature (payloadType: string, payload: Uint8Array, signature: DsseSignature): void {
  const sig = Buffer.from(signature.sig, 'base64')
  verifySignature(publicKeyOf(signature.keyid), pae(payloadType, payload), sig)
}
