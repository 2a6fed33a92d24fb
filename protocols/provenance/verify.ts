/**
 * Checking a signed statement offline: every signature against the key it names and, through
 * `roleAt`, against the mesh's trust records at the time it was made. Nothing here reads the
 * network or a store: the caller hands over the bytes it fetched.
 */
import { BadSignatureError } from '../codec/errors.js'
import { sha256Hex } from '../codec/envelope.js'
import { certificateVotes, certifiedOutcome, checkCertificateVotes, voteSigner } from './certificate.js'
import { IN_TOTO_PAYLOAD_TYPE, LOG_SUBJECT, MAX_SIGNATURES } from './constants.js'
import { parseEnvelope, verifyPayloadSignature } from './dsse.js'
import { MalformedStatementError } from './errors.js'
import { builderOf, finishedAt, parseStatement } from './statement.js'
import type { FinishCertificate } from './certificate.js'
import type { Statement } from './statement.js'

/**
 * Whether a key held a role at a time, by the trust records: `revoked` when a revocation of the
 * key counts (whenever it came: a revoked key's word is worth nothing). `role` null: any role.
 */
export type RoleAt = (keyId: string, role: 'build' | null, at: number) => 'held' | 'revoked' | 'not-held'

/** One signature checked, as `verify --json` lists it. */
export interface SignatureCheck {
  keyid: string
  /** builder: signed the statement; acceptor: counter-signed the finish; rebuilder: re-ran the job and got the same subjects */
  as: 'builder' | 'acceptor' | 'rebuilder'
  ok: boolean
  /** why it does not count: missing, bad signature, revoked, role not held */
  problem?: string
  /** for a rebuilder: the rebuild job */
  job?: string
}

/** A rebuild's co-signature: a signature over the same statement payload by the member that re-ran it. */
export interface CoSignature {
  job: string
  keyid: string
  sig: string
  /** when the rebuild finished (ms), the time the role is checked at */
  at: number
}

export interface VerifyInput {
  /** the envelope's bytes as stored */
  envelope: Uint8Array
  /** the hash asked about: it must be a subject, the log, or the envelope itself */
  subject?: string
  roleAt: RoleAt
  certificate?: FinishCertificate
  /** the result was decided by a mesh's acceptors: a missing certificate is a problem */
  requireCertificate?: boolean
  cosignatures?: CoSignature[]
}

export interface VerifyReport {
  statement: Statement
  /** sha256 of the envelope */
  hash: string
  ok: boolean
  verified: SignatureCheck[]
  /** every reason it is not ok, one line each */
  problems: string[]
}

/** Verify a statement envelope and its counter- and co-signatures. Throws only for malformed input. */
export function verifyStatement (input: VerifyInput): VerifyReport {
  const hash = sha256Hex(input.envelope)
  const { envelope, payload } = parseEnvelope(input.envelope)
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new MalformedStatementError(`the envelope's payloadType is not ${IN_TOTO_PAYLOAD_TYPE}`)
  const statement = parseStatement(payload)
  const builder = builderOf(statement)
  const at = finishedAt(statement)
  const verified: SignatureCheck[] = []
  const problems: string[] = []
  const check = (c: SignatureCheck): void => {
    verified.push(c)
    if (!c.ok) problems.push(`${c.as} signature of ${c.keyid}${c.job != null ? ` (rebuild ${c.job})` : ''}: ${c.problem ?? 'does not count'}`)
  }
  if (!envelope.signatures.some(s => s.keyid === builder)) {
    check({ keyid: builder, as: 'builder', ok: false, problem: 'missing: the builder did not sign the statement' })
  }
  for (const s of envelope.signatures) {
    const as = s.keyid === builder ? 'builder' : 'rebuilder'
    check({ keyid: s.keyid, as, ...judge(() => { verifyPayloadSignature(envelope.payloadType, payload, s) }, input.roleAt, s.keyid, 'build', at) })
  }
  for (const c of (input.cosignatures ?? []).slice(0, MAX_SIGNATURES)) {
    const problem = c.keyid === builder ? 'the builder cannot co-sign its own build' : undefined
    const r = problem != null ? { ok: false, problem } : judge(() => { verifyPayloadSignature(envelope.payloadType, payload, c) }, input.roleAt, c.keyid, 'build', c.at)
    check({ keyid: c.keyid, as: 'rebuilder', job: c.job, ...r })
  }
  if (input.certificate != null) checkCertificate(input.certificate, statement, hash, builder, at, input.roleAt, check, problems)
  else if (input.requireCertificate === true) problems.push('missing: the finish certificate (the acceptors\' votes for this result) was not found')
  if (input.subject != null && input.subject !== hash && !statement.subject.some(s => s.digest.sha256 === input.subject)) {
    problems.push(`the statement does not name ${input.subject} among its subjects`)
  }
  return { statement, hash, ok: problems.length === 0, verified, problems }
}

/** a signature check, then the signer's standing at `at` */
function judge (verify: () => void, roleAt: RoleAt, keyid: string, role: 'build' | null, at: number): { ok: boolean, problem?: string } {
  try {
    verify()
  } catch (err) {
    if (err instanceof BadSignatureError) return { ok: false, problem: 'wrong: the signature does not verify' }
    throw err
  }
  const standing = roleAt(keyid, role, at)
  if (standing === 'revoked') return { ok: false, problem: 'revoked: the key\'s grants were revoked' }
  if (standing === 'not-held') return { ok: false, problem: `the key did not hold ${role ?? 'any role'} at ${new Date(at).toISOString()}` }
  return { ok: true }
}

function checkCertificate (cert: FinishCertificate, statement: Statement, envelopeHash: string, builder: string, at: number, roleAt: RoleAt,
  check: (c: SignatureCheck) => void, problems: string[]): void {
  const int = statement.predicate.buildDefinition.internalParameters
  const certified = certifiedOutcome(cert)
  if (certified == null) {
    problems.push('the finish certificate does not carry a result')
    return
  }
  if (cert.holder !== builder || certified.provenance !== envelopeHash || int.mesh == null) {
    problems.push(`the finish certificate is for ${cert.holder}'s result naming statement ${certified.provenance ?? 'none'}, not this statement`)
    return
  }
  const acceptors = new Set(cert.acceptors)
  for (const vote of certificateVotes(cert)) {
    const keyid = voteSigner(vote)
    if (keyid == null) {
      check({ keyid: '?', as: 'acceptor', ok: false, problem: 'wrong: a vote that is not a signed lease vote' })
      continue
    }
    if (!acceptors.has(keyid)) {
      check({ keyid, as: 'acceptor', ok: false, problem: 'not one of the job\'s acceptors' })
      continue
    }
    // the vote's own signature was checked by opening it; here the signer's standing
    check({ keyid, as: 'acceptor', ...judge(() => {}, roleAt, keyid, null, at) })
  }
  const quorum = checkCertificateVotes(cert, { mesh: int.mesh, job: int.job, outcome: certified.outcome })
  if (!quorum.ok) problems.push(`the finish certificate is not a majority of the job's acceptors for this result (${quorum.reason ?? 'refused'})`)
}

/** the subject a hash names in a statement, for people: an artefact path, a store path, or the log */
export function subjectName (statement: Statement, hash: string): string | undefined {
  const s = statement.subject.find(x => x.digest.sha256 === hash)
  if (s == null) return undefined
  return s.name === LOG_SUBJECT ? 'the job\'s log' : s.name
}
