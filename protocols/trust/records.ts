import { peerIdFromString } from '@libp2p/peer-id'
import { isRecord } from '../codec/cbor.js'
import { open, seal } from '../codec/envelope.js'
import { MalformedMessageError } from '../codec/errors.js'
import { DEFAULT_INVITE_TTL_MS, ENROLL_TYPE, GRANT_TYPE, KEY_BYTES, MAX_RECORD_BYTES, REVOKE_TYPE } from './constants.js'
import { BadKeyIdError, BadRecordError } from './errors.js'
import { HASH_PATTERN } from './mesh.js'
import { isRole, ROLES } from './types.js'
import type { Identity } from '../codec/keys.js'
import type { Signed } from '../codec/envelope.js'
import type { EnrollPayload, GrantPayload, MeshInfo, RevokePayload, Role, TrustRecord } from './types.js'

type Fields = Record<string, unknown>

function fields (value: unknown, kind: string, allowed: readonly string[]): Fields {
  if (!isRecord(value)) throw new MalformedMessageError(`${kind}: payload is not a map`)
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new MalformedMessageError(`${kind}: unknown field ${JSON.stringify(key)}`)
  }
  return value
}

function meshField (value: unknown, kind: string): string {
  if (typeof value !== 'string' || !HASH_PATTERN.test(value)) throw new MalformedMessageError(`${kind}.mesh: must be 64 lowercase hex digits`)
  return value
}

function keyField (value: unknown, path: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength !== KEY_BYTES) throw new MalformedMessageError(`${path}: must be ${KEY_BYTES} bytes`)
  return value
}

function timeField (value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new MalformedMessageError(`${path}: must be a non-negative integer (ms)`)
  return value
}

function rolesField (value: unknown, path: string): Role[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > ROLES.length) {
    throw new MalformedMessageError(`${path}: must be a list of 1 to ${ROLES.length} roles`)
  }
  for (const [i, role] of value.entries()) {
    if (!isRole(role)) throw new MalformedMessageError(`${path}[${i}]: must be one of ${ROLES.join(', ')}`)
  }
  if (new Set(value).size !== value.length) throw new MalformedMessageError(`${path}: a role is listed twice`)
  return value as Role[]
}

/** Validate a grant payload strictly; throws ERR_MALFORMED naming the field. */
export function parseGrant (value: unknown): GrantPayload {
  const f = fields(value, 'grant', ['mesh', 'subject', 'roles', 'issuedAt', 'expiresAt', 'invite'])
  const out: GrantPayload = {
    mesh: meshField(f.mesh, 'grant'),
    subject: keyField(f.subject, 'grant.subject'),
    roles: rolesField(f.roles, 'grant.roles'),
    issuedAt: timeField(f.issuedAt, 'grant.issuedAt')
  }
  if (f.expiresAt !== undefined) {
    out.expiresAt = timeField(f.expiresAt, 'grant.expiresAt')
    if (out.expiresAt <= out.issuedAt) throw new MalformedMessageError('grant.expiresAt: must be after issuedAt')
  }
  if (f.invite !== undefined) {
    if (f.invite !== true) throw new MalformedMessageError('grant.invite: must be true when present')
    // an invite key is a bearer secret: one that never expires could never be contained
    if (out.expiresAt === undefined) throw new MalformedMessageError('grant.expiresAt: required for an invite')
    out.invite = true
  }
  return out
}

/** Validate a revoke payload strictly; throws ERR_MALFORMED naming the field. */
export function parseRevoke (value: unknown): RevokePayload {
  const f = fields(value, 'revoke', ['mesh', 'subject', 'issuedAt'])
  return {
    mesh: meshField(f.mesh, 'revoke'),
    subject: keyField(f.subject, 'revoke.subject'),
    issuedAt: timeField(f.issuedAt, 'revoke.issuedAt')
  }
}

/** Validate an enroll payload strictly; throws ERR_MALFORMED naming the field. */
export function parseEnroll (value: unknown): EnrollPayload {
  const f = fields(value, 'enroll', ['mesh', 'invite', 'node', 'at'])
  if (typeof f.invite !== 'string' || !HASH_PATTERN.test(f.invite)) throw new MalformedMessageError('enroll.invite: must be 64 lowercase hex digits')
  return {
    mesh: meshField(f.mesh, 'enroll'),
    invite: f.invite,
    node: keyField(f.node, 'enroll.node'),
    at: timeField(f.at, 'enroll.at')
  }
}

/**
 * Open and validate a signed trust record of any kind. Throws ERR_TOO_LARGE, ERR_MALFORMED
 * or ERR_BAD_SIGNATURE (the codec's errors).
 */
export function openRecord (bytes: Uint8Array): TrustRecord {
  const signed = open(bytes, { maxBytes: MAX_RECORD_BYTES })
  const { signer, hash } = signed
  switch (signed.type) {
    case GRANT_TYPE: return { kind: 'grant', payload: parseGrant(signed.payload), signer, hash, bytes }
    case REVOKE_TYPE: return { kind: 'revoke', payload: parseRevoke(signed.payload), signer, hash, bytes }
    case ENROLL_TYPE: return { kind: 'enroll', payload: parseEnroll(signed.payload), signer, hash, bytes }
    default: throw new MalformedMessageError(`${JSON.stringify(signed.type)} is not a trust record`)
  }
}

function meshIdArg (mesh: MeshInfo | string): string {
  return typeof mesh === 'string' ? mesh : mesh.id
}

/** Run a maker's payload through the same parser a receiver uses, so no maker emits what peers refuse. */
function checked<T> (parse: (value: unknown) => T, payload: T): T {
  try {
    return parse(payload)
  } catch (err) {
    throw new BadRecordError((err as Error).message, { cause: err })
  }
}

export interface GrantOptions {
  /** ms since the epoch; invites default to `now + DEFAULT_INVITE_TTL_MS` */
  expiresAt?: number
  /** make an invite grant: `subjectPublicKey` is a fresh invite key */
  invite?: boolean
}

/** Sign a grant of `roles` to `subjectPublicKey`. Throws ERR_BAD_RECORD on bad input. */
export function makeGrant (admin: Identity, mesh: MeshInfo | string, subjectPublicKey: Uint8Array, roles: readonly Role[],
  options: GrantOptions = {}, now: number = Date.now()): Signed<GrantPayload> {
  const payload: GrantPayload = { mesh: meshIdArg(mesh), subject: subjectPublicKey, roles: [...roles], issuedAt: now }
  const expiresAt = options.expiresAt ?? (options.invite === true ? now + DEFAULT_INVITE_TTL_MS : undefined)
  if (expiresAt !== undefined) payload.expiresAt = expiresAt
  if (options.invite === true) payload.invite = true
  return seal(admin, GRANT_TYPE, checked(parseGrant, payload))
}

/** Sign a revocation of every grant and enrollment of `subjectPublicKey` issued before `now`. */
export function makeRevoke (admin: Identity, mesh: MeshInfo | string, subjectPublicKey: Uint8Array,
  now: number = Date.now()): Signed<RevokePayload> {
  return seal(admin, REVOKE_TYPE, checked(parseRevoke, { mesh: meshIdArg(mesh), subject: subjectPublicKey, issuedAt: now }))
}

/** Sign, with an invite key, the enrollment of `nodePublicKey` through the invite grant whose hash is `inviteHash`. */
export function makeEnroll (inviteIdentity: Identity, mesh: MeshInfo | string, inviteHash: string, nodePublicKey: Uint8Array,
  now: number = Date.now()): Signed<EnrollPayload> {
  const payload: EnrollPayload = { mesh: meshIdArg(mesh), invite: inviteHash, node: nodePublicKey, at: now }
  return seal(inviteIdentity, ENROLL_TYPE, checked(parseEnroll, payload))
}

/** The raw Ed25519 public key inside a key id (peer id string); throws ERR_BAD_KEY_ID. */
export function publicKeyOfKeyId (keyId: string): Uint8Array {
  let key
  try {
    key = peerIdFromString(keyId).publicKey
  } catch (err) {
    throw new BadKeyIdError(keyId, { cause: err })
  }
  if (key?.type !== 'Ed25519') throw new BadKeyIdError(keyId)
  return key.raw
}
