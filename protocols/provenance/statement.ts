/**
 * The provenance of one job result: an in-toto Statement v1 with a SLSA provenance v1 predicate.
 * docs/provenance.md names every field; this module builds a statement from what a builder knows
 * and checks the shape of one that arrived from anywhere.
 */
import {
  BUILD_TYPE_JOB, BUILD_TYPE_NIX, BUILDER_ID_PREFIX, LOG_SUBJECT, SLSA_PROVENANCE_V1, STATEMENT_TYPE
} from './constants.js'
import { MalformedStatementError } from './errors.js'

export interface Subject {
  name: string
  digest: { sha256: string }
  annotations?: Record<string, string>
}

export interface ResourceDescriptor {
  uri?: string
  name?: string
  digest?: Record<string, string>
}

/** The SLSA provenance v1 predicate as cit-node fills it. */
export interface ProvenancePredicate {
  buildDefinition: {
    buildType: string
    externalParameters: {
      job: { name: string, definition: { sha256: string } }
      params: Record<string, string>
      /** key id that signed the job's announcement */
      submitter: string
      /** the repository and commit, when a trigger made the job */
      source?: { repo: string, commit: string, ref?: string }
      nix?: { drv: string, closure: string }
      /** a rebuild: the job and statement it re-ran */
      rebuildOf?: { job: string, statement: string }
    }
    internalParameters: {
      /** the mesh id, or null for a node on its own */
      mesh: string | null
      /** the job id (sha256 of its signed announcement) */
      job: string
      /** the lease epoch the builder held */
      epoch: number
      /** the labels the builder offered */
      labels: string[]
    }
    resolvedDependencies: ResourceDescriptor[]
  }
  runDetails: {
    builder: { id: string, version: Record<string, string> }
    metadata: { invocationId: string, startedOn: string, finishedOn: string }
    byproducts: ResourceDescriptor[]
  }
}

export interface Statement {
  _type: string
  subject: Subject[]
  predicateType: string
  predicate: ProvenancePredicate
}

/** what a builder knows when it writes a statement */
export interface StatementInput {
  jobId: string
  name: string
  /** sha256 of the job's normalised definition (its spec, canonical CBOR) */
  definition: string
  params: Record<string, string>
  submitter: string
  source?: { repo: string, commit: string, ref?: string }
  nix?: { drv: string, closure: string }
  rebuildOf?: { job: string, statement: string }
  mesh: string | null
  epoch: number
  builder: string
  labels: string[]
  version: string
  startedAt: number
  finishedAt: number
  state: string
  log: string
  artefacts: Array<{ path: string, sha256: string }>
  outputs: Array<{ name: string, path: string, narHash: string, closure: string }>
}

/** the statement for one result: subjects are what it produced, the predicate how and by whom */
export function buildStatement (i: StatementInput): Statement {
  const subject: Subject[] = [
    { name: LOG_SUBJECT, digest: { sha256: i.log } },
    ...i.artefacts.map(a => ({ name: a.path, digest: { sha256: a.sha256 } })),
    ...i.outputs.map(o => ({ name: o.path, digest: { sha256: o.closure }, annotations: { output: o.name, narHash: o.narHash } }))
  ]
  const deps: ResourceDescriptor[] = []
  if (i.source != null) deps.push({ uri: `git+${i.source.repo}`, digest: { gitCommit: i.source.commit } })
  if (i.nix != null) deps.push({ name: i.nix.drv, digest: { sha256: i.nix.closure } })
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: i.nix != null ? BUILD_TYPE_NIX : BUILD_TYPE_JOB,
        externalParameters: {
          job: { name: i.name, definition: { sha256: i.definition } },
          params: i.params,
          submitter: i.submitter,
          ...(i.source != null ? { source: i.source } : {}),
          ...(i.nix != null ? { nix: i.nix } : {}),
          ...(i.rebuildOf != null ? { rebuildOf: i.rebuildOf } : {})
        },
        internalParameters: { mesh: i.mesh, job: i.jobId, epoch: i.epoch, labels: i.labels },
        resolvedDependencies: deps
      },
      runDetails: {
        builder: { id: `${BUILDER_ID_PREFIX}${i.builder}`, version: { 'cit-node': i.version } },
        metadata: { invocationId: i.jobId, startedOn: new Date(i.startedAt).toISOString(), finishedOn: new Date(i.finishedAt).toISOString() },
        byproducts: [{ name: 'outcome', uri: `urn:cit-node:outcome:${i.state}` }]
      }
    }
  }
}

const isObj = (v: unknown): v is Record<string, any> => v != null && typeof v === 'object' && !Array.isArray(v)
const HEX64 = /^[0-9a-f]{64}$/

/** Check the shape of a statement from anywhere; returns it typed or ERR_MALFORMED_STATEMENT. */
export function parseStatement (payload: Uint8Array): Statement {
  let raw: any
  try {
    raw = JSON.parse(Buffer.from(payload).toString('utf8'))
  } catch {
    throw new MalformedStatementError('the statement is not JSON')
  }
  const bad = (what: string): never => { throw new MalformedStatementError(`the statement ${what}`) }
  if (!isObj(raw)) bad('is not an object')
  if (raw._type !== STATEMENT_TYPE) bad(`_type is not ${STATEMENT_TYPE}`)
  if (raw.predicateType !== SLSA_PROVENANCE_V1) bad(`predicateType is not ${SLSA_PROVENANCE_V1}`)
  if (!Array.isArray(raw.subject) || raw.subject.length === 0) bad('has no subjects')
  for (const s of raw.subject) {
    if (!isObj(s) || typeof s.name !== 'string' || !isObj(s.digest) || typeof s.digest.sha256 !== 'string' || !HEX64.test(s.digest.sha256)) bad('has a malformed subject')
  }
  const p = raw.predicate
  if (!isObj(p) || !isObj(p.buildDefinition) || !isObj(p.runDetails)) bad('predicate is malformed')
  const ext = p.buildDefinition.externalParameters
  const int = p.buildDefinition.internalParameters
  if (!isObj(ext) || !isObj(ext.job) || typeof ext.job.name !== 'string' || typeof ext.submitter !== 'string') bad('external parameters are malformed')
  if (!isObj(int) || typeof int.job !== 'string' || !HEX64.test(int.job) || !Number.isSafeInteger(int.epoch)) bad('internal parameters are malformed')
  const b = p.runDetails.builder
  if (!isObj(b) || typeof b.id !== 'string' || !b.id.startsWith(BUILDER_ID_PREFIX)) bad('builder is malformed')
  const m = p.runDetails.metadata
  if (!isObj(m) || Number.isNaN(Date.parse(m.finishedOn)) || Number.isNaN(Date.parse(m.startedOn))) bad('metadata times are malformed')
  return raw as Statement
}

/** the key id of the statement's builder */
export function builderOf (statement: Statement): string {
  return statement.predicate.runDetails.builder.id.slice(BUILDER_ID_PREFIX.length)
}

/** when the build finished, ms since the epoch */
export function finishedAt (statement: Statement): number {
  return Date.parse(statement.predicate.runDetails.metadata.finishedOn)
}
