/**
 * The builder's side of provenance: after every run, before its result is published, the node
 * writes an in-toto statement of what it built from what, signs it with its node key (a DSSE
 * envelope) and stores it in the content store; the result names it by hash. A rebuild also
 * compares its subjects with the original statement's and, when they match, co-signs that one.
 */
import { readFileSync } from 'node:fs'
import { encodeCbor, sha256Hex } from '../../protocols/codec/index.js'
import {
  IN_TOTO_PAYLOAD_TYPE, LOG_SUBJECT, buildStatement, parseEnvelope, parseStatement, sealEnvelope, signPayload
} from '../../protocols/provenance/index.js'
import type { Identity } from '../../protocols/codec/index.js'
import type { NixResult, RebuildCheck } from '../../protocols/job/records.js'
import type { RebuildSpec } from '../../protocols/job/types.js'
import type { Statement } from '../../protocols/provenance/index.js'
import type { RunRequest, RunResult } from '../executor/types.js'
import type { JobService } from '../jobs/job-service.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'

/** what a run hands to the runner: the executor's result and what provenance adds */
export type AttestedResult = RunResult & { nix?: NixResult, provenance?: string, rebuild?: RebuildCheck }

export interface AttestorComponents {
  /** runs the job (the Nix builder in front of the executor) */
  inner: { run: (req: RunRequest) => Promise<RunResult & { nix?: NixResult }> }
  identity: Identity
  jobs: JobService
  blobs: BlobStore
  /** the labels this node offers now */
  labels: () => string[]
  /** the mesh id, or null on a node of its own */
  mesh: () => string | null
  /** make a blob local (the original statement of a rebuild) */
  ensureLocal: (hash: string, options: { signal?: AbortSignal }) => Promise<unknown>
  logger: Logger
}

/** the version recorded as the builder's */
export const VERSION: string = (() => {
  try {
    return String(JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version)
  } catch {
    return 'unknown'
  }
})()

/** Runs a job through `inner`, then signs and stores its statement. */
export class Attestor {
  constructor (private readonly c: AttestorComponents) {}

  async run (req: RunRequest): Promise<AttestedResult> {
    const startedAt = Date.now()
    const result = await this.c.inner.run(req)
    try {
      const rebuild = req.spec.rebuild != null ? await this.compare(req.spec.rebuild, result, req.signal) : undefined
      const provenance = await this.attest(req, result, startedAt)
      return { ...result, provenance, ...(rebuild != null ? { rebuild } : {}) }
    } catch (err) {
      // a result without its statement is still a result: verify will say it has none
      this.c.logger.error('could not write the provenance statement', { job: req.jobId, err })
      return result
    }
  }

  /** sign and store the statement of one result; returns its hash */
  async attest (req: RunRequest, result: RunResult & { nix?: NixResult }, startedAt: number): Promise<string> {
    const row = await this.c.jobs.get(req.jobId)
    const statement = buildStatement({
      jobId: req.jobId,
      name: req.spec.name,
      definition: sha256Hex(encodeCbor(req.spec)),
      params: req.params,
      submitter: row?.submitter ?? '',
      source: row?.source,
      nix: req.spec.nix,
      rebuildOf: req.spec.rebuild != null ? { job: req.spec.rebuild.of, statement: req.spec.rebuild.statement } : undefined,
      mesh: this.c.mesh(),
      epoch: row?.epoch ?? 0,
      builder: this.c.identity.id,
      labels: this.c.labels(),
      version: VERSION,
      startedAt: row?.startedAt ?? startedAt,
      finishedAt: Date.now(),
      state: result.outcome,
      log: result.log,
      artefacts: result.artefacts,
      outputs: result.nix?.outputs ?? []
    })
    const bytes = sealEnvelope(this.c.identity, IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'))
    return (await this.c.blobs.put([bytes])).hash
  }

  /** a rebuild's subjects against the original statement's; a co-signature of it when they match */
  private async compare (spec: RebuildSpec, result: RunResult & { nix?: NixResult }, signal?: AbortSignal): Promise<RebuildCheck> {
    const base = { of: spec.of, statement: spec.statement }
    if (result.outcome !== 'succeeded') return { ...base, matched: false, mismatches: [`the rebuild ${result.outcome}`] }
    await this.c.ensureLocal(spec.statement, { signal })
    const chunks: Uint8Array[] = []
    for await (const chunk of this.c.blobs.get(spec.statement, { signal })) chunks.push(chunk)
    const { envelope, payload } = parseEnvelope(Buffer.concat(chunks))
    const original = parseStatement(payload)
    const mismatches = differences(original, result)
    if (mismatches.length > 0) return { ...base, matched: false, mismatches }
    return { ...base, matched: true, mismatches: [], sig: signPayload(this.c.identity, envelope.payloadType, payload).sig }
  }
}

/**
 * What differs between a statement's subjects and a rebuild's: artefacts by path (sha256), Nix
 * outputs by store path (NAR hash: an export also records who derived it). The log never matches
 * (it has times in it) and is left out.
 */
export function differences (original: Statement, result: RunResult & { nix?: NixResult }): string[] {
  const mine = new Map<string, string>()
  for (const a of result.artefacts) mine.set(a.path, a.sha256)
  for (const o of result.nix?.outputs ?? []) mine.set(o.path, o.narHash)
  const out: string[] = []
  const seen = new Set<string>()
  for (const s of original.subject) {
    if (s.name === LOG_SUBJECT) continue
    seen.add(s.name)
    const want = s.annotations?.narHash ?? s.digest.sha256
    const got = mine.get(s.name)
    if (got !== want) out.push(got == null ? `${s.name}: missing from the rebuild` : `${s.name}: ${want} then, ${got} now`)
  }
  for (const name of mine.keys()) if (!seen.has(name)) out.push(`${name}: only in the rebuild`)
  return out
}
