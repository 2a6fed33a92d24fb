/**
 * The daemon's Nix requests: submitting a derivation (its closure exported into the content
 * store and named in the job, so a builder that lacks it fetches it by hash) and importing a
 * built output's closure into this machine's Nix store.
 */
import { isDerivationPath } from '../../protocols/job/index.js'
import { parseHash } from '../../store/blobs/index.js'
import { InvalidInputError } from '../errors.js'
import { NoProvenanceError } from '../provenance/lookup.js'
import { exportClosure, importClosure } from './closures.js'
import { NIX_LABEL } from './constants.js'
import type { NixOutput } from '../../protocols/job/records.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobRow, JobView } from '../jobs/types.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { NixTool } from './tool.js'

/** `POST /v1/nix/jobs`: a derivation the CLI evaluated, and how to run it */
export interface NixSubmitBody {
  drv: string
  /** the job's name (the file's name without `.nix`) */
  name: string
  /** required labels (default `[nix]`) */
  labels?: string[]
  timeoutMs?: number
  priority?: number
}

/** what `nix import` did for each output */
export interface NixImportReport {
  job: string
  outputs: Array<NixOutput & { imported: boolean }>
}

export interface NixServiceComponents {
  tool: NixTool
  blobs: BlobStore
  jobs: JobService
  /** submit a spec as any job is submitted (validation, roles, cache, signing) */
  submit: (body: { spec: unknown, priority?: number }) => Promise<JobView>
  ensureLocal: (hash: string, options: { signal?: AbortSignal }) => Promise<unknown>
  announce: (hashes: string[]) => void
}

export class NixService {
  constructor (private readonly c: NixServiceComponents, private readonly init: { tmpDir: string }) {}

  /** export the derivation's closure into the content store and submit the job that realises it */
  async submit (body: NixSubmitBody, options: { signal?: AbortSignal } = {}): Promise<JobView> {
    if (!isDerivationPath(body?.drv)) throw new InvalidInputError('drv: must be the store path of a derivation', [{ path: 'drv', message: 'not a derivation path' }])
    if (!await this.c.tool.isValid(body.drv, options)) throw new InvalidInputError(`${body.drv} is not in this machine's Nix store: evaluate the file here first`)
    const blob = await exportClosure(this.c.tool, this.c.blobs, [body.drv], this.init.tmpDir, options)
    // a builder without the derivation fetches it from this node
    this.c.announce([blob.hash])
    const spec = {
      name: body.name,
      requires: { labels: body.labels ?? [NIX_LABEL] },
      ...(body.timeoutMs != null ? { timeoutMs: body.timeoutMs } : {}),
      // one derivation always gives the same outputs: a finished build serves every resubmission
      cache: true,
      nix: { drv: body.drv, closure: blob.hash }
    }
    return await this.c.submit({ spec, priority: body.priority })
  }

  /**
   * Import the output closures of a Nix job (`ref` a job reference), or one output closure by its
   * hash, into the local Nix store. Only closures a known result names are imported: that result
   * was signed by a member that held `build`, and says which store path the closure must hold.
   */
  async import (ref: string, options: { signal?: AbortSignal } = {}): Promise<NixImportReport> {
    const { row, outputs } = await this.resolve(ref, options.signal)
    const done: NixImportReport['outputs'] = []
    for (const o of outputs) {
      if (await this.c.tool.isValid(o.path, options)) {
        done.push({ ...o, imported: false })
        continue
      }
      await this.c.ensureLocal(o.closure, options)
      await importClosure(this.c.tool, this.c.blobs, o.closure, [o.path], options)
      done.push({ ...o, imported: true })
    }
    return { job: row.id, outputs: done }
  }

  private async resolve (ref: string, signal?: AbortSignal): Promise<{ row: JobRow, outputs: NixOutput[] }> {
    const text = ref.trim().toLowerCase().replace(/^sha256:/, '')
    if (/^[0-9a-f]{64}$/.test(text)) {
      const hash = parseHash(text)
      for await (const row of this.c.jobs.store.all({ signal })) {
        const hit = row.nix?.outputs.filter(o => o.closure === hash) ?? []
        if (hit.length > 0) return { row, outputs: hit }
      }
      if (await this.c.jobs.store.get(hash) == null) throw new NoProvenanceError(`no Nix result known here names the closure ${hash}`)
    }
    const row = await this.c.jobs.resolve(ref)
    if (row.spec.nix == null) throw new InvalidInputError(`job ${row.id} is not a Nix job`)
    if (row.state !== 'succeeded' || row.nix == null || row.nix.outputs.length === 0) {
      throw new InvalidInputError(`job ${row.id} is ${row.state}: it has no outputs to import`)
    }
    return { row, outputs: row.nix.outputs }
  }
}
