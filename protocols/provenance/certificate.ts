/**
 * A finish certificate: the mesh's word that it accepted a result. A majority of the job's
 * acceptors (the members that hold its lease) each sign the same bytes naming the job, the lease
 * epoch and the executor; a statement whose builder and epoch match is then "counter-signed as
 * the mesh accepted it". The lease protocol issues certificates; this module defines the bytes
 * and checks them, so `verify` needs nothing but the certificate and the trust records.
 */
import { encodeCbor } from '../codec/cbor.js'
import { FINISH_DOMAIN } from './constants.js'

/** What an acceptor signs: domain ‖ canonical CBOR of `{ job, epoch, executor }`. */
export interface FinishClaim {
  /** the job id */
  job: string
  /** the lease epoch the executor held */
  epoch: number
  /** the executor's key id */
  executor: string
}

export interface FinishCertificate extends FinishClaim {
  /** the job's acceptors (key ids): a majority of them must sign */
  acceptors: string[]
  /** each acceptor's Ed25519 signature (base64) over `finishBytes` */
  signatures: Array<{ keyid: string, sig: string }>
}

/** the exact bytes an acceptor signs for a finish certificate */
export function finishBytes (claim: FinishClaim): Uint8Array {
  const body = encodeCbor({ job: claim.job, epoch: claim.epoch, executor: claim.executor })
  return Buffer.concat([Buffer.from(FINISH_DOMAIN, 'utf8'), body])
}

/** how many of `n` acceptors make a majority */
export function majorityOf (n: number): number {
  return Math.floor(n / 2) + 1
}
