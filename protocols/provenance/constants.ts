/** in-toto Statement v1 */
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1'
/** SLSA provenance v1 */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1'
/** the DSSE payload type of an in-toto statement */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json'
/** how a cit-node job is built: its stages in a terminal (docs/provenance.md) */
export const BUILD_TYPE_JOB = 'urn:cit-node:build-type:job:v1'
/** how a cit-node Nix job is built: `nix-store --realise` of one derivation (docs/provenance.md) */
export const BUILD_TYPE_NIX = 'urn:cit-node:build-type:nix:v1'
/** a builder's id is this prefix and its node key id */
export const BUILDER_ID_PREFIX = 'urn:cit-node:node:'
/** the subject name of a job's terminal recording (artefact paths are relative, store paths absolute) */
export const LOG_SUBJECT = 'cit-node:log'
/** the largest signed statement accepted (a job's artefact list bounds it) */
export const MAX_STATEMENT_BYTES = 8 * 1024 * 1024
/** most signatures looked at in one envelope or certificate */
export const MAX_SIGNATURES = 64
