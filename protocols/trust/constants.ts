/**
 * Limits and defaults of mesh trust. docs/trust.md states each of them: change one and update it.
 */

/** the most records one TrustState keeps (authorised and pending together) */
export const MAX_RECORDS = 10_000

/**
 * the most records kept that do not count (yet): signed by a key that is not an admin as far as
 * this node knows, or enrolling through an unknown invite. They are kept because records arrive in
 * any order; past this, the oldest-arrived is dropped first.
 */
export const MAX_PENDING_RECORDS = 1_000

/** the most records kept that do not count (yet) from one signer: one key cannot fill the pending pool */
export const MAX_PENDING_PER_SIGNER = 16

/** how far in the future (by the local clock) a record's time may be and still be accepted: 5 minutes */
export const CLOCK_SKEW_MS = 5 * 60 * 1000

/** an invite (join token) that names no expiry is valid for 24 hours */
export const DEFAULT_INVITE_TTL_MS = 24 * 60 * 60 * 1000

/** largest join token accepted, in bytes of CBOR (the string is 4/3 of this plus the prefix) */
export const MAX_TOKEN_BYTES = 8 * 1024

/** the prefix of a join token string; the digit is the token format's version */
export const TOKEN_PREFIX = 'cit1'

/** most addresses a token may carry, and the longest one, in characters */
export const MAX_TOKEN_ADDRS = 16
export const MAX_ADDR_LENGTH = 256

/** most records a token may carry to prove its invite was made by an admin */
export const MAX_TOKEN_CHAIN = 8

/** largest signed trust record accepted, in bytes */
export const MAX_RECORD_BYTES = 4 * 1024

/** the random part of a mesh id, in bytes */
export const MESH_NONCE_BYTES = 16

/** Ed25519 public keys, in bytes */
export const KEY_BYTES = 32

/** envelope types of the three record kinds */
export const GRANT_TYPE = 'grant'
export const REVOKE_TYPE = 'revoke'
export const ENROLL_TYPE = 'enroll'
