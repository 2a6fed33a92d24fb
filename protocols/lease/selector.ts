import { createHash } from 'node:crypto'
import { jobOfLeaseKey, parseLease } from './record.js'
import type { LeasePayload } from './record.js'
import type { SelectFn } from '@libp2p/kad-dht'

/** a parsed record with the sha256 of its bytes, the last tie-break */
export interface LeaseCandidate {
  lease: LeasePayload
  hash: string
}

function cmp (a: number | string, b: number | string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Order two records for one job: negative when `a` is the better one. Clock-free, so every
 * node orders the same records the same way:
 * 1. higher epoch (a new claim supersedes everything before it);
 * 2. earlier claimedAt (of rival claims of one epoch, the first; a claim that reaches peers
 *    late was usually made late, so it loses to the one readers may already have seen);
 * 3. lower holder id (rival claims in the same millisecond);
 * 4. later renewedAt (the holder's newest statement about its claim: a renewal or release);
 * 5. lower sha256 of the bytes (a total order whatever the records say).
 */
export function compareLeases (a: LeaseCandidate, b: LeaseCandidate): number {
  return cmp(b.lease.epoch, a.lease.epoch) ||
    cmp(a.lease.claimedAt, b.lease.claimedAt) ||
    cmp(a.lease.holder, b.lease.holder) ||
    cmp(b.lease.renewedAt, a.lease.renewedAt) ||
    cmp(a.hash, b.hash)
}

/** parse a record for `job` into a candidate; undefined when it does not parse or names another job */
export function leaseCandidate (bytes: Uint8Array, job: string | undefined): LeaseCandidate | undefined {
  try {
    const lease = parseLease(bytes)
    if (job != null && lease.job !== job) return undefined
    return { lease, hash: createHash('sha256').update(bytes).digest('hex') }
  } catch {
    return undefined
  }
}

/** the best of `candidates` by `compareLeases`, or undefined for none */
export function bestLease (candidates: Iterable<LeaseCandidate>): LeaseCandidate | undefined {
  let best: LeaseCandidate | undefined
  for (const c of candidates) if (best == null || compareLeases(c, best) < 0) best = c
  return best
}

/**
 * The kad-dht selector for the `lease` namespace: the index of the best record by
 * `compareLeases`. Records that do not parse, or name another job than the key's, lose to any
 * that do; among only bad records the first is returned (kad-dht needs an index).
 */
export function selectLease (key: Uint8Array, records: Uint8Array[]): number {
  const job = jobOfLeaseKey(key)
  let bestIndex = 0
  let best: LeaseCandidate | undefined
  records.forEach((bytes, i) => {
    const c = leaseCandidate(bytes, job)
    if (c != null && (best == null || compareLeases(c, best) < 0)) {
      best = c
      bestIndex = i
    }
  })
  return bestIndex
}

/** `selectLease` typed as kad-dht's selector (`selectors: { lease: leaseSelector }`) */
export const leaseSelector: SelectFn = selectLease
