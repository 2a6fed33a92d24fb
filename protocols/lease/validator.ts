import { CLOCK_SKEW_MS, LEASE_RETAIN_MS, MAX_LEASE_TTL_MS } from './constants.js'
import { InvalidLeaseError } from './errors.js'
import { jobOfLeaseKey, parseLease } from './record.js'
import type { LeasePayload } from './record.js'
import type { ValidateFn } from '@libp2p/kad-dht'

/** membership with the build role, answered by the trust logic */
export type IsBuilder = (peerId: string) => boolean

/** the validator's clock and limits; the defaults are the wire contract (see constants.ts) */
export interface LeaseRules {
  now?: () => number
  maxTtlMs?: number
  skewMs?: number
  retainMs?: number
}

/**
 * Check a lease record stored under `key`, by every rule a peer applies: the key is
 * `/lease/<job>` for the payload's job, the envelope verifies and is signed by the holder,
 * the holder has the build role, the TTL is within `maxTtlMs`, it was not signed more than
 * `skewMs` in the future, and it did not expire more than `retainMs` ago. Returns the payload;
 * throws ERR_INVALID_LEASE with a `reason`.
 */
export function checkLease (key: Uint8Array, value: Uint8Array, isBuilder: IsBuilder, rules: LeaseRules = {}): LeasePayload {
  const job = jobOfLeaseKey(key)
  if (job == null) throw new InvalidLeaseError('bad-key', 'key is not /lease/<64 hex>')
  const lease = parseLease(value)
  if (lease.job !== job) throw new InvalidLeaseError('key-mismatch', `record for job ${lease.job} stored under ${job}`)
  const now = (rules.now ?? Date.now)()
  const maxTtl = rules.maxTtlMs ?? MAX_LEASE_TTL_MS
  if (lease.expiresAt - lease.renewedAt > maxTtl) {
    throw new InvalidLeaseError('ttl', `lease of ${lease.expiresAt - lease.renewedAt} ms is over the limit of ${maxTtl} ms`)
  }
  if (lease.renewedAt > now + (rules.skewMs ?? CLOCK_SKEW_MS)) {
    throw new InvalidLeaseError('future', `signed ${lease.renewedAt - now} ms in the future`)
  }
  if (lease.expiresAt + (rules.retainMs ?? LEASE_RETAIN_MS) < now) {
    throw new InvalidLeaseError('expired', `expired ${now - lease.expiresAt} ms ago`)
  }
  // last: the trust callback may be the most expensive check
  if (!isBuilder(lease.holder)) throw new InvalidLeaseError('not-builder', `${lease.holder} does not hold the build role`)
  return lease
}

/**
 * The kad-dht validator for the `lease` namespace (`validators: { lease: leaseValidator(…) }`).
 * kad-dht runs it on records peers put here, on records peers return to a get, and on this
 * node's own stored record when read; not on this node's own put.
 */
export function leaseValidator (isBuilder: IsBuilder, rules: LeaseRules = {}): ValidateFn {
  if (typeof isBuilder !== 'function') throw new TypeError('leaseValidator: isBuilder must be a function (peerId) => boolean')
  return (key: Uint8Array, value: Uint8Array): void => {
    checkLease(key, value, isBuilder, rules)
  }
}
