/**
 * The checker's side of provenance: from a hash (an artefact, a log, an output closure or a
 * statement) to the statement that names it, fetched from whoever holds it, then every signature
 * checked against this node's copy of the mesh's trust records. After the fetch nothing here
 * needs the network.
 */
import { NodeError } from '../errors.js'
import { subjectName, verifyStatement } from '../../protocols/provenance/index.js'
import { outcomeContent } from '../jobs/fence.js'
import type { CoSignature, FinishCertificate, RoleAt, SignatureCheck, Statement } from '../../protocols/provenance/index.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobRow } from '../jobs/types.js'
import type { BlobStore } from '../../store/blobs/types.js'

/** no statement can be found for a hash (no known result names it, or the result has none) */
export class NoProvenanceError extends NodeError {
  constructor (message: string) {
    super('ERR_NO_PROVENANCE', message)
    this.name = 'NoProvenanceError'
  }
}

/** The `verify --json` shape: the statement, plus what was checked. */
export type ProvenanceReport = Statement & {
  /** sha256 of the signed envelope */
  envelope: string
  /** the hash asked about and what it is in the statement */
  asked: { sha256: string, name: string | null }
  ok: boolean
  verified: SignatureCheck[]
  problems: string[]
}

export interface LookupComponents {
  jobs: JobService
  blobs: BlobStore
  ensureLocal: (hash: string, options: { signal?: AbortSignal }) => Promise<unknown>
  roleAt: RoleAt
}

/** Finds and checks statements. */
export class ProvenanceLookup {
  constructor (private readonly c: LookupComponents) {}

  /** the job whose result names `hash` (as its log, an artefact, an output closure or its statement) */
  async find (hash: string, options: { signal?: AbortSignal } = {}): Promise<JobRow | undefined> {
    let found: JobRow | undefined
    for await (const row of this.c.jobs.store.all(options)) {
      if (row.provenance == null || !names(row, hash)) continue
      // the job that built it, rather than one that reused its result or a rebuild of it
      if (found == null || rank(row) < rank(found)) found = row
    }
    return found
  }

  /** the job that built what `ref` names: a job reference, or a hash its result names (a cache hit leads to its origin) */
  async built (ref: string, options: { signal?: AbortSignal } = {}): Promise<JobRow> {
    const text = ref.trim().toLowerCase().replace(/^sha256:/, '')
    let row = /^[0-9a-f]{64}$/.test(text) ? (await this.c.jobs.store.get(text)) ?? await this.find(text, options) : undefined
    row ??= await this.c.jobs.resolve(ref)
    if (row.cacheHit === true && row.cachedFrom != null) row = (await this.c.jobs.get(row.cachedFrom)) ?? row
    return row
  }

  /** the certificate to check a statement with, and whether its job needs one (it was decided in a mesh) */
  private async counterSignature (statement: string | undefined, options: { signal?: AbortSignal }): Promise<{ certificate?: FinishCertificate, requireCertificate: boolean }> {
    if (statement == null) return { requireCertificate: false }
    const row = await this.find(statement, options)
    return { certificate: await this.certificate(statement, options), requireCertificate: row?.acceptors != null && row.cacheHit !== true }
  }

  /**
   * The acceptors' votes for the result that names `statement` (the `finished` event's finish
   * certificate), or undefined for a job outside a mesh (it has no acceptors) or a cache hit.
   */
  async certificate (statement: string, options: { signal?: AbortSignal } = {}): Promise<FinishCertificate | undefined> {
    const row = await this.find(statement, options)
    if (row?.acceptors == null || row.cacheHit === true) return undefined
    for (const ev of await this.c.jobs.store.eventsOfType(row.id, 'finished')) {
      if (ev.cert == null || ev.result?.provenance !== statement) continue
      return {
        acceptors: row.acceptors,
        holder: ev.ran ?? ev.node,
        content: Buffer.from(outcomeContent(ev)).toString('base64'),
        votes: ev.cert.map(v => Buffer.from(v).toString('base64'))
      }
    }
    return undefined
  }

  /** the co-signatures of a statement: rebuilds that matched it */
  async cosignatures (statement: string, options: { signal?: AbortSignal } = {}): Promise<CoSignature[]> {
    const out: CoSignature[] = []
    for await (const row of this.c.jobs.store.all(options)) {
      const r = row.rebuild
      if (r == null || r.statement !== statement || !r.matched || r.sig == null || row.executor == null) continue
      out.push({ job: row.id, keyid: row.executor, sig: r.sig, at: row.finishedAt ?? row.updatedAt })
    }
    return out
  }

  /**
   * Verify the provenance of `hash`. With `envelope` (a statement handed over by anyone), that
   * statement is checked for `hash` instead of the one the result names.
   */
  async verify (hash: string, options: { envelope?: Uint8Array, signal?: AbortSignal } = {}): Promise<ProvenanceReport> {
    let bytes = options.envelope
    let statementHash: string | undefined
    if (bytes == null) {
      const row = await this.find(hash, options)
      if (row == null) throw new NoProvenanceError(`no result known here names ${hash}, or its result has no statement`)
      statementHash = row.provenance!
      await this.c.ensureLocal(statementHash, options)
      bytes = await readAll(this.c.blobs, statementHash, options.signal)
    }
    const report = verifyStatement({
      envelope: bytes,
      subject: hash,
      roleAt: this.c.roleAt,
      ...await this.counterSignature(statementHash, options),
      cosignatures: statementHash != null ? await this.cosignatures(statementHash, options) : []
    })
    return {
      ...report.statement,
      envelope: report.hash,
      asked: { sha256: hash, name: hash === report.hash ? 'the statement' : subjectName(report.statement, hash) ?? null },
      ok: report.ok,
      verified: report.verified,
      problems: report.problems
    }
  }
}

/** which of the results naming a hash speaks for it: the original build, then rebuilds, then cache hits */
function rank (row: JobRow): number {
  return (row.cacheHit === true ? 2 : 0) + (row.spec.rebuild != null ? 1 : 0)
}

function names (row: JobRow, hash: string): boolean {
  return row.provenance === hash || row.log === hash ||
    (row.artefacts ?? []).some(a => a.sha256 === hash) ||
    (row.nix?.outputs ?? []).some(o => o.closure === hash)
}

async function readAll (blobs: BlobStore, hash: string, signal?: AbortSignal): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of blobs.get(hash, { signal })) chunks.push(chunk)
  return Buffer.concat(chunks)
}
