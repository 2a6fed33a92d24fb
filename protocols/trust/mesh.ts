import { randomBytes } from 'node:crypto'
import { decodeCbor, encodeCbor, isRecord } from '../codec/cbor.js'
import { sha256Hex } from '../codec/envelope.js'
import { keyIdOf } from '../codec/keys.js'
import { KEY_BYTES, MESH_NONCE_BYTES } from './constants.js'
import { BadMeshError } from './errors.js'
import type { Identity } from '../codec/keys.js'
import type { MeshInfo } from './types.js'

const MESH_FIELDS = new Set(['id', 'root', 'createdAt', 'nonce'])
const MAX_MESH_BYTES = 1024
/** a sha256 as this project prints it: 64 lowercase hex digits */
export const HASH_PATTERN = /^[0-9a-f]{64}$/

/** The id of a mesh: sha256 hex of the canonical CBOR of `{ root, createdAt, nonce }`. */
export function meshIdOf (root: Uint8Array, createdAt: number, nonce: Uint8Array): string {
  return sha256Hex(encodeCbor({ root, createdAt, nonce }))
}

/** Create a new mesh whose root (first, permanent admin) is `rootIdentity`. */
export function createMesh (rootIdentity: Identity, now: number = Date.now()): MeshInfo {
  const nonce = new Uint8Array(randomBytes(MESH_NONCE_BYTES))
  const root = new Uint8Array(rootIdentity.publicKey)
  return { id: meshIdOf(root, now, nonce), root, createdAt: now, nonce }
}

/** The key id (peer id string) of the mesh's root key. */
export function rootKeyId (mesh: MeshInfo): string {
  return keyIdOf(mesh.root)
}

/**
 * Check a value (decoded CBOR, or a caller's object) is a well-formed MeshInfo whose id matches
 * its contents. Throws ERR_BAD_MESH naming the field.
 */
export function validateMeshInfo (value: unknown): MeshInfo {
  if (!isRecord(value)) throw new BadMeshError('not a map')
  for (const key of Object.keys(value)) {
    if (!MESH_FIELDS.has(key)) throw new BadMeshError(`unknown field ${JSON.stringify(key)}`)
  }
  const { id, root, createdAt, nonce } = value
  if (typeof id !== 'string' || !HASH_PATTERN.test(id)) throw new BadMeshError('id: must be 64 lowercase hex digits')
  if (!(root instanceof Uint8Array) || root.byteLength !== KEY_BYTES) throw new BadMeshError(`root: must be ${KEY_BYTES} bytes`)
  if (typeof createdAt !== 'number' || !Number.isSafeInteger(createdAt) || createdAt < 0) throw new BadMeshError('createdAt: must be a non-negative integer')
  if (!(nonce instanceof Uint8Array) || nonce.byteLength !== MESH_NONCE_BYTES) throw new BadMeshError(`nonce: must be ${MESH_NONCE_BYTES} bytes`)
  if (meshIdOf(root, createdAt, nonce) !== id) throw new BadMeshError('id does not match root, createdAt and nonce')
  try {
    keyIdOf(root)
  } catch (err) {
    throw new BadMeshError('root: not an Ed25519 public key', { cause: err })
  }
  return { id, root, createdAt, nonce }
}

/** Canonical CBOR of a mesh's information, for the daemon's home. */
export function encodeMeshInfo (mesh: MeshInfo): Uint8Array {
  return encodeCbor({ id: mesh.id, root: mesh.root, createdAt: mesh.createdAt, nonce: mesh.nonce })
}

/** Inverse of encodeMeshInfo; throws ERR_BAD_MESH on anything else. */
export function decodeMeshInfo (bytes: Uint8Array): MeshInfo {
  let value: unknown
  try {
    value = decodeCbor(bytes, MAX_MESH_BYTES)
  } catch (err) {
    throw new BadMeshError('not valid CBOR', { cause: err })
  }
  return validateMeshInfo(value)
}
