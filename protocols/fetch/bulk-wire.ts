/**
 * The bulk channel's wire pieces. A ticket reply travels inside the Noise-encrypted libp2p stream;
 * the TCP connection then carries, client → holder, the ticket id and a proof that the client
 * holds the key (an AES-256-GCM tag over nothing), and holder → client, the range in records:
 * a 4-byte big-endian length, that many bytes of ciphertext, a 16-byte GCM tag. Record `i` is
 * sealed under the ticket's key with the nonce `i` (12 bytes, big-endian) and the ticket id as
 * additional data, so a record cannot be altered, dropped, repeated or moved without the tag
 * failing; the client knows the range's length, so a cut-off stream is noticed too.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto'
import { decodeCbor, encodeCbor, isRecord } from '../codec/cbor.js'
import { MalformedMessageError } from '../codec/errors.js'
import { FETCH_MAX_ERROR_CHARS } from './constants.js'
import { FetchRemoteError } from './errors.js'
import type { CipherGCM, DecipherGCM } from 'node:crypto'

export const TICKET_BYTES = 16
export const KEY_BYTES = 32
export const TAG_BYTES = 16
export const RECORD_HEADER_BYTES = 4
/** what the client sends first on the TCP connection: ticket id, then the proof tag */
export const HELLO_BYTES = TICKET_BYTES + TAG_BYTES
/** the proof's nonce: all ones, never a record's */
const PROOF_NONCE = Buffer.alloc(12, 0xff)

/** holder → client over libp2p: where to connect and with what, or why not */
export type BulkReply =
  | { ok: true, size: number, port: number, ticket: Uint8Array, key: Uint8Array }
  | { ok: false, error: string }

export function encodeBulkReply (reply: BulkReply): Uint8Array {
  return encodeCbor(reply)
}

/** parse a ticket reply; ERR_REMOTE with the holder's code for a refusal, ERR_MALFORMED if neither */
export function parseBulkReply (bytes: Uint8Array, maxBytes: number): { size: number, port: number, ticket: Uint8Array, key: Uint8Array } {
  const raw = decodeCbor(bytes, maxBytes)
  if (!isRecord(raw)) throw new MalformedMessageError('bulk reply is not a map')
  if (raw.ok === false) {
    if (typeof raw.error !== 'string' || raw.error.length === 0 || raw.error.length > FETCH_MAX_ERROR_CHARS) throw new MalformedMessageError('bulk error reply: error is not a short code')
    throw new FetchRemoteError(raw.error)
  }
  const { ok, size, port, ticket, key } = raw
  if (ok !== true || Object.keys(raw).length !== 5) throw new MalformedMessageError('bulk reply: not ok with size, port, ticket and key')
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new MalformedMessageError('bulk reply: size is not a non-negative integer')
  if (typeof port !== 'number' || !Number.isSafeInteger(port) || port < 1 || port > 65535) throw new MalformedMessageError('bulk reply: port is not a TCP port')
  if (!(ticket instanceof Uint8Array) || ticket.byteLength !== TICKET_BYTES) throw new MalformedMessageError(`bulk reply: ticket is not ${TICKET_BYTES} bytes`)
  if (!(key instanceof Uint8Array) || key.byteLength !== KEY_BYTES) throw new MalformedMessageError(`bulk reply: key is not ${KEY_BYTES} bytes`)
  return { size, port, ticket, key }
}

function recordNonce (index: number): Buffer {
  const nonce = Buffer.alloc(12)
  nonce.writeUIntBE(index, 6, 6)
  return nonce
}

/** the client's proof that it holds the ticket's key */
export function helloProof (key: Uint8Array, ticket: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, PROOF_NONCE)
  c.setAAD(ticket)
  c.final()
  return c.getAuthTag()
}

/** a cipher for record `index`: feed it the plaintext with update(), then final() and getAuthTag() */
export function recordCipher (key: Uint8Array, ticket: Uint8Array, index: number): CipherGCM {
  const c = createCipheriv('aes-256-gcm', key, recordNonce(index))
  c.setAAD(ticket)
  return c
}

/** the decipher of record `index`; its final() throws when the record was altered */
export function recordDecipher (key: Uint8Array, ticket: Uint8Array, index: number): DecipherGCM {
  const d = createDecipheriv('aes-256-gcm', key, recordNonce(index))
  d.setAAD(ticket)
  return d
}
