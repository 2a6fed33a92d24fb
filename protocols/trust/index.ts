/**
 * Mesh membership and trust, as pure logic (no networking).
 *
 * A mesh is named by a hash that commits to its root key. Roles are given to keys by signed
 * records (`grant`, `revoke`, and `enroll` for a machine joining with an invite token); a
 * TrustState keeps the records of one mesh, in whatever order they arrive, and answers who holds
 * which role by replaying them in time order from the root. A join token carries the mesh, an
 * invite grant and its key, and addresses to dial. docs/trust.md states the rules.
 */
export { ROLES, isRole } from './types.js'
export type {
  Role, MeshInfo, GrantPayload, RevokePayload, EnrollPayload, TrustRecord, AddResult, Member, Revocation,
  TrustReason, RefusedReason, PendingReason
} from './types.js'
export { createMesh, meshIdOf, rootKeyId, validateMeshInfo, encodeMeshInfo, decodeMeshInfo } from './mesh.js'
export { makeGrant, makeRevoke, makeEnroll, openRecord, parseGrant, parseRevoke, parseEnroll, publicKeyOfKeyId } from './records.js'
export type { GrantOptions } from './records.js'
export { TrustState } from './trust-state.js'
export type { TrustStateComponents, TrustStateInit } from './trust-state.js'
export { encodeToken, decodeToken } from './token.js'
export type { JoinToken, DecodedToken } from './token.js'
export { TrustError, BadTokenError, BadMeshError, BadRecordError, BadKeyIdError, InvalidOptionError } from './errors.js'
export * from './constants.js'
