/**
 * Defaults and limits of job leases. Units are in the names. The validator's limits
 * (MAX_LEASE_TTL_MS, CLOCK_SKEW_MS, LEASE_RETAIN_MS, MAX_LEASE_BYTES) are part of the wire
 * contract: every node must use the same values, or records one accepts another refuses.
 */

/** the kad-dht namespace: keys are `/lease/<job id>` */
export const LEASE_NAMESPACE = 'lease'
/** the key prefix of a lease record */
export const LEASE_KEY_PREFIX = `/${LEASE_NAMESPACE}/`
/** the envelope type (`t`) of a lease record */
export const LEASE_TYPE = 'lease'

/** how long a claim or renewal holds the job */
export const LEASE_TTL_MS = 15_000
/** how often a held lease is renewed: a third of the TTL, so two renewals may fail before it lapses */
export const RENEW_EVERY_MS = 5_000
/** wait between putting a claim and reading it back, so concurrent claims have landed at peers */
export const SETTLE_MS = 200
/** deadline of one DHT read or put */
export const LEASE_CALL_TIMEOUT_MS = 5_000

/** longest lease a record may grant (`expiresAt - renewedAt`); longer ones are refused */
export const MAX_LEASE_TTL_MS = 5 * 60_000
/** a record signed this far in the future by the validator's clock is refused */
export const CLOCK_SKEW_MS = 5_000
/**
 * How long after it expired a record is still accepted. An expired lease no longer holds the
 * job, but it must stay readable so the next claim continues its epoch sequence; after this
 * it is refused everywhere and vanishes from reads.
 */
export const LEASE_RETAIN_MS = 60 * 60_000
/** largest lease envelope accepted (a real one is ~250 bytes) */
export const MAX_LEASE_BYTES = 1024
/** longest holder (peer id) accepted in a record */
export const MAX_HOLDER_CHARS = 128
