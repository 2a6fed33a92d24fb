/**
 * Provenance: who built a result from what, in a form anyone can check offline.
 *
 * - `buildStatement` makes an in-toto Statement v1 with a SLSA provenance v1 predicate;
 *   `sealEnvelope` signs it as a DSSE envelope with the builder's node key.
 * - `verifyStatement` checks an envelope, the finish certificate that counter-signs it and any
 *   rebuild co-signatures against the trust records (`RoleAt`), and says which signature fails.
 *
 * docs/provenance.md describes the format and the checks.
 */
export * from './constants.js'
export { MalformedStatementError } from './errors.js'
export { pae, signPayload, sealEnvelope, parseEnvelope, publicKeyOf, verifyPayloadSignature } from './dsse.js'
export type { DsseEnvelope, DsseSignature } from './dsse.js'
export { buildStatement, parseStatement, builderOf, finishedAt } from './statement.js'
export type { Statement, StatementInput, Subject, ProvenancePredicate, ResourceDescriptor } from './statement.js'
export { certifiedOutcome, checkCertificateVotes, majorityOf } from './certificate.js'
export type { FinishCertificate, CertifiedOutcome } from './certificate.js'
export { verifyStatement, subjectName } from './verify.js'
export type { RoleAt, SignatureCheck, CoSignature, VerifyInput, VerifyReport } from './verify.js'
