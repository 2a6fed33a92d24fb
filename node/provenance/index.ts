/**
 * Provenance on a node: every result's statement signed by its builder (`Attestor`, in front of
 * the executor), and `verify` from any hash to the statement that names it (`ProvenanceLookup`).
 * The format and the checks are protocols/provenance; docs/provenance.md describes both.
 */
export { Attestor, differences, VERSION } from './attest.js'
export type { AttestedResult, AttestorComponents } from './attest.js'
export { ProvenanceLookup, NoProvenanceError } from './lookup.js'
export type { ProvenanceReport, LookupComponents } from './lookup.js'
export { rebuildSpec, REBUILD_SUFFIX } from './rebuild.js'
