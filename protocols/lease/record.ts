import { isRecord } from '../codec/cbor.js'
import { open, seal } from '../codec/envelope.js'
import { ProtocolError } from '../codec/errors.js'
import { LEASE_KEY_PREFIX, LEASE_TYPE, MAX_HOLDER_CHARS, MAX_LEASE_BYTES, MAX_LEASE_TTL_MS } from './constants.js'
import { InvalidLeaseArgumentError, InvalidLeaseError } from './errors.js'
import type { Signed } from '../codec/envelope.js'
import type { Identity } from '../codec/keys.js'
import type { LeaseRejection } from './errors.js'

/**
 * Payload of a signed `lease` envelope: `holder` runs `job` under fencing `epoch` until
 * `expiresAt`. `claimedAt` is when this epoch was claimed and never changes while it is renewed;
 * `renewedAt` is when this record was signed (equal to `claimedAt` for the claim itself). Times
 * are ms since the epoch by the holder's clock. The signer must be the holder.
 */
export interface LeasePayload {
  /** job id: 64 lowercase hex */
  job: string
  /** peer id of the holder, which is also the envelope's signer */
  holder: string
  /** fencing epoch, ≥ 1; each successful claim of a job takes the previous epoch + 1 */
  epoch: number
  claimedAt: number
  renewedAt: number
  expiresAt: number
}

const FIELDS = ['claimedAt', 'epoch', 'expiresAt', 'holder', 'job', 'renewedAt']
const JOB_ID = /^[0-9a-f]{64}$/

/** true for a job id: 64 lowercase hex digits */
export function isJobId (value: unknown): value is string {
  return typeof value === 'string' && JOB_ID.test(value)
}

function checkJob (job: unknown): string {
  if (!isJobId(job)) throw new InvalidLeaseArgumentError(`job id must be 64 lowercase hex digits, got ${JSON.stringify(String(job).slice(0, 80))}`)
  return job
}

/** the DHT key of a job's lease: `/lease/<job>` as bytes */
export function leaseKey (job: string): Uint8Array {
  return new TextEncoder().encode(LEASE_KEY_PREFIX + checkJob(job))
}

/** the job id a lease key names, or undefined when the key is not `/lease/<64 hex>` */
export function jobOfLeaseKey (key: Uint8Array): string | undefined {
  if (key.byteLength !== LEASE_KEY_PREFIX.length + 64) return undefined
  const text = new TextDecoder('utf-8', { fatal: false }).decode(key)
  if (!text.startsWith(LEASE_KEY_PREFIX)) return undefined
  const job = text.slice(LEASE_KEY_PREFIX.length)
  return isJobId(job) ? job : undefined
}

const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

/** Structural problems of a payload (clock-free), or undefined when it is well formed. */
function payloadProblem (p: Record<string, unknown>): string | undefined {
  const keys = Object.keys(p).sort()
  if (keys.length !== FIELDS.length || keys.some((k, i) => k !== FIELDS[i])) return `fields must be exactly ${FIELDS.join(', ')}`
  if (!isJobId(p.job)) return 'job is not 64 lowercase hex digits'
  if (typeof p.holder !== 'string' || p.holder.length === 0 || p.holder.length > MAX_HOLDER_CHARS) return 'holder is not a peer id'
  if (!Number.isSafeInteger(p.epoch) || (p.epoch as number) < 1) return 'epoch is not an integer ≥ 1'
  if (!isTime(p.claimedAt) || !isTime(p.renewedAt) || !isTime(p.expiresAt)) return 'times must be integers ≥ 0 (ms since the epoch)'
  if (p.renewedAt < p.claimedAt) return 'renewedAt is before claimedAt'
  if (p.expiresAt < p.renewedAt) return 'expiresAt is before renewedAt'
  return undefined
}

function sealLease (identity: Identity, payload: LeasePayload): Signed<LeasePayload> {
  const problem = payloadProblem(payload as unknown as Record<string, unknown>)
  if (problem != null) throw new InvalidLeaseArgumentError(`lease: ${problem}`)
  return seal(identity, LEASE_TYPE, payload)
}

function checkTtl (ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_LEASE_TTL_MS) {
    throw new InvalidLeaseArgumentError(`lease ttl must be an integer in 1..${MAX_LEASE_TTL_MS} ms, got ${ttlMs}`)
  }
}

/** A claim of `job` at `epoch` by `identity`, valid for `ttlMs` from `now`. */
export function makeLease (identity: Identity, job: string, epoch: number, ttlMs: number, now: number): Signed<LeasePayload> {
  checkTtl(ttlMs)
  return sealLease(identity, { job: checkJob(job), holder: identity.id, epoch, claimedAt: now, renewedAt: now, expiresAt: now + ttlMs })
}

/** A renewal of `lease` (same epoch and claim time) valid for `ttlMs` from `now`. */
export function renewLease (identity: Identity, lease: LeasePayload, ttlMs: number, now: number): Signed<LeasePayload> {
  checkTtl(ttlMs)
  if (lease.holder !== identity.id) throw new InvalidLeaseArgumentError('only the holder can renew a lease')
  return sealLease(identity, { ...lease, renewedAt: Math.max(now, lease.renewedAt), expiresAt: Math.max(now, lease.renewedAt) + ttlMs })
}

/**
 * A release of `lease`: the same claim, expired at `now`. It is the holder's newest statement
 * about this claim, so selectors prefer it to the earlier renewals, and readers see the job free.
 */
export function releaseLease (identity: Identity, lease: LeasePayload, now: number): Signed<LeasePayload> {
  if (lease.holder !== identity.id) throw new InvalidLeaseArgumentError('only the holder can release a lease')
  const at = Math.max(now, lease.renewedAt)
  return sealLease(identity, { ...lease, renewedAt: at, expiresAt: at })
}

function reject (reason: LeaseRejection, message: string, cause?: unknown): never {
  throw new InvalidLeaseError(reason, message, cause == null ? undefined : { cause })
}

/**
 * Decode and verify a lease record: a `lease` envelope of at most MAX_LEASE_BYTES whose
 * signature verifies, whose payload is well formed and whose signer is the holder.
 * Clock-free: expiry, TTL and membership are the validator's (see `checkLease`).
 * Throws ERR_INVALID_LEASE with a `reason`.
 */
export function parseLease (bytes: Uint8Array): LeasePayload {
  if (!(bytes instanceof Uint8Array)) reject('malformed', 'not bytes')
  if (bytes.byteLength > MAX_LEASE_BYTES) reject('too-large', `${bytes.byteLength} bytes is over the limit of ${MAX_LEASE_BYTES}`)
  let signed: Signed<unknown>
  try {
    signed = open(bytes, { expectType: LEASE_TYPE, maxBytes: MAX_LEASE_BYTES })
  } catch (err) {
    const code = err instanceof ProtocolError ? err.code : ''
    if (code === 'ERR_BAD_SIGNATURE') reject('bad-signature', 'signature does not verify', err)
    if (code === 'ERR_TOO_LARGE') reject('too-large', 'payload over the limit', err)
    reject('malformed', err instanceof Error ? err.message : 'not an envelope', err)
  }
  if (!isRecord(signed.payload)) reject('malformed', 'payload is not a map')
  const problem = payloadProblem(signed.payload)
  if (problem != null) reject('malformed', problem)
  const payload = signed.payload as unknown as LeasePayload
  if (signed.signer !== payload.holder) reject('signer-not-holder', `signed by ${signed.signer}, holder is ${payload.holder}`)
  return payload
}
