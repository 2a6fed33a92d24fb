/** The roles a key can hold. `admin` may grant and revoke; it does not imply the others. */
export const ROLES = ['submit', 'build', 'read', 'admin'] as const
export type Role = typeof ROLES[number]

/** true for one of ROLES (to check `--role` input before making a grant) */
export function isRole (value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

/**
 * What identifies a mesh. `id` is the sha256 (64 hex) of the canonical CBOR of
 * `{ root, createdAt, nonce }`, so an id commits to its root key: two meshes with one id have one root.
 */
export interface MeshInfo {
  id: string
  /** the first admin's raw 32-byte Ed25519 public key; always admin, cannot be revoked */
  root: Uint8Array
  /** ms since the epoch */
  createdAt: number
  /** random bytes so two meshes made by one key at the same ms differ */
  nonce: Uint8Array
}

/** Payload of a signed `grant` record: `roles` for `subject`, signed by an admin. */
export interface GrantPayload {
  mesh: string
  subject: Uint8Array
  roles: Role[]
  issuedAt: number
  expiresAt?: number
  /** the subject is an invite key: it holds no roles itself, it may enroll node keys that then hold `roles` */
  invite?: true
}

/** Payload of a signed `revoke` record: cancels every grant and enrollment of `subject` issued before it. */
export interface RevokePayload {
  mesh: string
  subject: Uint8Array
  issuedAt: number
}

/** Payload of a signed `enroll` record, signed by an invite key: `node` now holds the invite's roles. */
export interface EnrollPayload {
  mesh: string
  /** hash (64 hex) of the invite grant's envelope */
  invite: string
  node: Uint8Array
  at: number
}

/** A verified, validated trust record as kept by a TrustState. */
export type TrustRecord =
  | { kind: 'grant', payload: GrantPayload, signer: string, hash: string, bytes: Uint8Array }
  | { kind: 'revoke', payload: RevokePayload, signer: string, hash: string, bytes: Uint8Array }
  | { kind: 'enroll', payload: EnrollPayload, signer: string, hash: string, bytes: Uint8Array }

/** Why a record was refused outright (not kept). */
export type RefusedReason =
  | 'malformed' | 'too-large' | 'bad-signature' | 'non-canonical' | 'wrong-mesh' | 'future' | 'duplicate' | 'revokes-root' | 'full'
  | 'signer-full'

/**
 * Why a kept record does not count (yet). It is re-evaluated whenever records change,
 * because the record that authorises it may simply not have arrived.
 */
export type PendingReason = 'not-admin' | 'unknown-invite' | 'not-invite' | 'expired' | 'revoked'

export type TrustReason = RefusedReason | PendingReason

/** The answer of `TrustState.add`. */
export interface AddResult {
  /** true when the record is kept and counts now */
  accepted: boolean
  reason?: TrustReason
  /** true when the record is kept though it does not count now (see PendingReason) */
  pending?: boolean
  /** the envelope hash, when the bytes could be opened */
  hash?: string
}

/** One key that holds roles now. */
export interface Member {
  keyId: string
  roles: Role[]
  /** key id of the admin whose grant (or invite) gave the earliest of the roles still held */
  grantedBy: string
  /** issuedAt (or enrollment time) of that grant, ms since the epoch */
  since: number
  /** hash of the invite grant, when the key joined through an invite */
  via?: string
}

/** One revocation that counts. */
export interface Revocation {
  subject: string
  by: string
  issuedAt: number
  hash: string
}
