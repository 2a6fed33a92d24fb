/**
 * A finish certificate: the mesh's word that it accepted a result. A majority of the job's
 * acceptors (the members that hold its lease) voted, each with a signed lease `vote`, for one
 * outcome of the job: the sha256 of the outcome content (`{type, state, reason, result}` as the
 * `finished` event carried it, canonical CBOR). The result names its statement, so the votes
 * counter-sign the statement "as the mesh accepted it". The lease protocol issues the votes
 * (protocols/lease); this module carries them with the content they are about, so `verify`
 * needs nothing but the certificate and the trust records.
 */
import { decodeCbor, isRecord } from '../codec/cbor.js'
import { sha256Hex } from '../codec/envelope.js'
import { checkVotes } from '../lease/certificate.js'
import { LEASE_VOTE } from '../lease/constants.js'
import { openLeaseMessage } from '../lease/messages.js'
import { MAX_SIGNATURES } from './constants.js'

/** The counter-signature of a result, as `verify` receives it. */
export interface FinishCertificate {
  /** the job's acceptors (key ids), as its announcement names them */
  acceptors: string[]
  /** the node whose run the acceptors decided for (the statement's builder) */
  holder: string
  /** the outcome content the votes are about (canonical CBOR), base64 */
  content: string
  /** each acceptor's signed lease vote, base64 */
  votes: string[]
}

/** what a certificate's content says about the result it certifies */
export interface CertifiedOutcome {
  /** sha256 (hex) of the content: what the acceptors voted for */
  outcome: string
  /** the statement the certified result names, if any */
  provenance?: string
}

const MAX_CONTENT_BYTES = 256 * 1024

/** Read the content a certificate carries; undefined when it is not a result's outcome content. */
export function certifiedOutcome (cert: FinishCertificate): CertifiedOutcome | undefined {
  try {
    const bytes = Buffer.from(cert.content, 'base64')
    const content = decodeCbor(bytes, MAX_CONTENT_BYTES)
    if (!isRecord(content) || !isRecord(content.result)) return undefined
    const provenance = content.result.provenance
    return { outcome: sha256Hex(bytes), provenance: typeof provenance === 'string' ? provenance : undefined }
  } catch {
    return undefined
  }
}

/** the vote envelopes of a certificate as bytes (at most MAX_SIGNATURES) */
export function certificateVotes (cert: FinishCertificate): Uint8Array[] {
  return cert.votes.slice(0, MAX_SIGNATURES).map(v => new Uint8Array(Buffer.from(v, 'base64')))
}

/** who signed one vote, or undefined when the bytes are not a signed lease vote */
export function voteSigner (vote: Uint8Array): string | undefined {
  try {
    return openLeaseMessage(vote, LEASE_VOTE).signer
  } catch {
    return undefined
  }
}

/** Whether the votes are a majority of the acceptors for `holder`'s run with the certificate's content. */
export function checkCertificateVotes (cert: FinishCertificate, s: { mesh: string, job: string, outcome: string }): { ok: boolean, reason?: string } {
  const r = checkVotes(certificateVotes(cert), { mesh: s.mesh, job: s.job, acceptors: cert.acceptors.slice(0, MAX_SIGNATURES), holder: cert.holder, outcome: s.outcome })
  return r.ok ? { ok: true } : { ok: false, reason: r.reason }
}

/** how many of `n` acceptors make a majority */
export function majorityOf (n: number): number {
  return Math.floor(n / 2) + 1
}
