import { encodeCbor } from '../codec/cbor.js'
import { sha256Hex } from '../codec/envelope.js'
import { majority } from './acceptors.js'
import { LEASE_GRANT, LEASE_REPLY, LEASE_VOTE } from './constants.js'
import { openLeaseMessage } from './messages.js'
import type { Grant, Vote } from './messages.js'

/** what a certificate must be about */
export interface CertSubject {
  mesh: string
  job: string
  epoch: number
  /** the job's acceptors, as its announcement names them */
  acceptors: readonly string[]
}

export type CertCheck = { ok: true, holder: string } | { ok: false, reason: string }

/** the sha256 (hex) of a result's canonical CBOR: what finish votes are about */
export function outcomeOf (result: unknown): string {
  return sha256Hex(encodeCbor(result))
}

/**
 * Check a set of signed acceptor messages of `type` about one (job, epoch): each verifies, is
 * signed by an acceptor of the job, names the mesh, job and epoch; they agree on the holder (and
 * `match` holds for each); and they come from a majority of distinct acceptors.
 */
function checkMajority (type: string, sigs: readonly Uint8Array[], s: Omit<CertSubject, 'epoch'> & { epoch?: number }, match: (p: Grant | Vote) => boolean): CertCheck {
  if (!Array.isArray(sigs) || sigs.length === 0) return { ok: false, reason: 'no-quorum' }
  if (sigs.length > s.acceptors.length) return { ok: false, reason: 'malformed' }
  const signers = new Set<string>()
  let holder: string | undefined
  let epoch = s.epoch
  for (const bytes of sigs) {
    let p: Grant | Vote
    let signer: string
    try {
      const m = openLeaseMessage(bytes, type)
      p = m.payload as Grant | Vote
      signer = m.signer
    } catch {
      return { ok: false, reason: 'forged' }
    }
    if (!s.acceptors.includes(signer)) return { ok: false, reason: 'not-acceptor' }
    if (p.mesh !== s.mesh) return { ok: false, reason: 'wrong-mesh' }
    if (p.job !== s.job || (epoch != null && p.epoch !== epoch) || !match(p)) return { ok: false, reason: 'wrong-subject' }
    epoch = p.epoch
    if (holder != null && p.holder !== holder) return { ok: false, reason: 'wrong-subject' }
    holder = p.holder
    signers.add(signer)
  }
  if (signers.size < majority(s.acceptors.length) || holder == null) return { ok: false, reason: 'no-quorum' }
  return { ok: true, holder }
}

/** a lease certificate: grants of a majority of the job's acceptors to one holder at `epoch` */
export function checkGrants (grants: readonly Uint8Array[], s: CertSubject): CertCheck {
  return checkMajority(LEASE_GRANT, grants, s, () => true)
}

/**
 * A finish certificate: votes of a majority of the job's acceptors, all at one ballot, for
 * `holder`'s run with `outcome`. The ballot is the epoch of whoever proposed it: usually the
 * holder's own, later if the run's executor could not finish and another claimant did.
 */
export function checkVotes (votes: readonly Uint8Array[], s: Omit<CertSubject, 'epoch'> & { holder: string, outcome: string }): CertCheck {
  return checkMajority(LEASE_VOTE, votes, s, p => p.holder === s.holder && (p as Vote).outcome === s.outcome)
}

/**
 * The epoch an acceptor's signed grant or refusal shows the job has reached there, or undefined
 * when the bytes are not such a message from an acceptor of the job. One acceptor's word is
 * enough to let another acceptor skip ahead: every epoch was granted somewhere, so epochs can
 * only grow one grant at a time.
 */
export function provenEpoch (bytes: Uint8Array, s: Omit<CertSubject, 'epoch'>): number | undefined {
  try {
    const m = openLeaseMessage(bytes)
    if (m.type !== LEASE_GRANT && m.type !== LEASE_REPLY) return undefined
    if (!s.acceptors.includes(m.signer)) return undefined
    const p = m.payload
    if (p.mesh !== s.mesh || p.job !== s.job || p.epoch == null) return undefined
    return p.epoch
  } catch {
    return undefined
  }
}
