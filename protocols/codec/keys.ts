import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { BadSignatureError, MalformedMessageError } from './errors.js'
import type { KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'

// DER prefixes that wrap a raw Ed25519 seed / public key for node:crypto (RFC 8410)
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const VERIFY_CACHE_MAX = 4096

export const PUBLIC_KEY_BYTES = 32
export const SIGNATURE_BYTES = 64

/**
 * An Ed25519 signing identity. It is also the node's libp2p identity, so a key's id is its
 * libp2p peer id string (`12D3KooW…`). Signing uses node:crypto, ~10x faster than pure JS.
 */
export class Identity {
  readonly privateKey: PrivateKey
  readonly publicKey: Uint8Array
  readonly id: string
  private readonly signingKey: KeyObject

  constructor (privateKey: PrivateKey) {
    if (privateKey.type !== 'Ed25519') throw new MalformedMessageError(`identity must be Ed25519, not ${privateKey.type}`)
    this.privateKey = privateKey
    this.publicKey = privateKey.publicKey.raw
    this.id = peerIdFromPublicKey(privateKey.publicKey).toString()
    const seed = privateKey.raw.subarray(0, 32)
    this.signingKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  }

  static async generate (): Promise<Identity> {
    return new Identity(await generateKeyPair('Ed25519'))
  }

  /** from the libp2p protobuf encoding kept in the home */
  static fromBytes (bytes: Uint8Array): Identity {
    return new Identity(privateKeyFromProtobuf(bytes))
  }

  toBytes (): Uint8Array {
    return privateKeyToProtobuf(this.privateKey)
  }

  sign (data: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, data, this.signingKey))
  }
}

const verifyKeys = new Map<string, KeyObject>()

function verifyKeyFor (publicKey: Uint8Array): KeyObject {
  const hex = Buffer.from(publicKey).toString('hex')
  let key = verifyKeys.get(hex)
  if (key == null) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
    if (verifyKeys.size >= VERIFY_CACHE_MAX) verifyKeys.clear()
    verifyKeys.set(hex, key)
  }
  return key
}

/** Verify an Ed25519 signature; throws ERR_BAD_SIGNATURE on any failure, including malformed keys. */
export function verifySignature (publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): void {
  if (publicKey.byteLength !== PUBLIC_KEY_BYTES) throw new BadSignatureError('public key is not 32 bytes')
  if (signature.byteLength !== SIGNATURE_BYTES) throw new BadSignatureError('signature is not 64 bytes')
  let ok = false
  try {
    ok = verify(null, data, verifyKeyFor(publicKey), signature)
  } catch {
    ok = false
  }
  if (!ok) throw new BadSignatureError()
}

const keyIds = new Map<string, string>()

/** The key id (libp2p peer id string) of a raw Ed25519 public key. */
export function keyIdOf (publicKey: Uint8Array): string {
  const hex = Buffer.from(publicKey).toString('hex')
  let id = keyIds.get(hex)
  if (id == null) {
    id = peerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString()
    if (keyIds.size >= VERIFY_CACHE_MAX) keyIds.clear()
    keyIds.set(hex, id)
  }
  return id
}
