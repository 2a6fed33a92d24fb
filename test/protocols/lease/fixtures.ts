import { decodeCbor, encodeCbor, seal } from '../../../protocols/codec/index.js'
import { LEASE_TYPE } from '../../../protocols/lease/index.js'
import type { Identity } from '../../../protocols/codec/index.js'
import type { LeasePayload } from '../../../protocols/lease/index.js'

/** the same envelope with its payload changed and the original signature kept */
export function tamper (bytes: Uint8Array, change: Partial<LeasePayload>): Uint8Array {
  const env = decodeCbor(bytes, 4096) as { p: Uint8Array }
  const payload = decodeCbor(env.p, 4096) as LeasePayload
  return encodeCbor({ ...env, p: encodeCbor({ ...payload, ...change }) })
}

/** a lease envelope with any payload at all, signed by `identity` (no checks: for bad records) */
export function rawLease (identity: Identity, payload: Record<string, unknown>): Uint8Array {
  return seal(identity, LEASE_TYPE, payload).bytes
}

/** a well-formed payload for `holder`, claimed at `at` for `ttlMs` */
export function payloadOf (job: string, holder: string, epoch: number, at: number, ttlMs = 1000): LeasePayload {
  return { job, holder, epoch, claimedAt: at, renewedAt: at, expiresAt: at + ttlMs }
}
