/**
 * The daemon's build pipeline beyond the executor, wired in one place: Nix jobs go to the Nix
 * builder, every other job to the executor, and every result gets its signed statement; beside
 * it, the Nix requests (submit, import), the binary cache and the provenance lookups (verify).
 */
import { join } from 'node:path'
import { NixBuilds, NixCache, NixService, NixTool, offersNix, NIX_LABEL } from '../nix/index.js'
import { Attestor } from './attest.js'
import { ProvenanceLookup } from './lookup.js'
import type { Identity } from '../../protocols/codec/index.js'
import type { RoleAt } from '../../protocols/provenance/index.js'
import type { NixConfig } from '../config/config.js'
import type { RunRequest, RunResult } from '../executor/types.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobView } from '../jobs/types.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'

export interface PipelineComponents {
  executor: { run: (req: RunRequest) => Promise<RunResult> }
  /** the node's settings: `labels` gains `nix` when Nix answers here */
  config: { labels: string[], nix?: NixConfig }
  identity: Identity
  jobs: JobService
  blobs: BlobStore
  /** the home directory: Nix temp files go to `<home>/nix` */
  home: string
  ensureLocal: (hash: string, options: { signal?: AbortSignal }) => Promise<unknown>
  announce: (hashes: string[]) => void
  submit: (body: { spec: unknown, priority?: number }) => Promise<JobView>
  roleAt: RoleAt
  mesh: () => string | null
  /** the labels changed (Nix was found): tell the mesh now rather than at the next report */
  onLabels?: () => void
  logger: (scope: string) => Logger
}

export interface Pipeline {
  /** what the runner runs jobs with */
  executor: Attestor
  nix: NixService
  /** the read-only binary cache the HTTP face serves; its key is loaded (or made) in the background */
  cache: NixCache
  provenance: ProvenanceLookup
}

export function buildPipeline (c: PipelineComponents): Pipeline {
  const tool = new NixTool({ store: c.config.nix?.store, substituters: c.config.nix?.substituters })
  // asking Nix costs a process start: the daemon does not wait for it, the label follows when it answers
  void offersNix(c.config, tool).then(ok => {
    if (!ok) return
    c.config.labels = [...c.config.labels, NIX_LABEL]
    c.onLabels?.()
  }, () => {})
  const tmpDir = join(c.home, 'nix')
  const executor = new Attestor({
    inner: new NixBuilds({ inner: c.executor, tool, blobs: c.blobs, ensureLocal: c.ensureLocal, logger: c.logger('nix') }, { tmpDir }),
    identity: c.identity,
    jobs: c.jobs,
    blobs: c.blobs,
    labels: () => c.config.labels,
    mesh: c.mesh,
    ensureLocal: c.ensureLocal,
    logger: c.logger('provenance')
  })
  const nix = new NixService({ tool, blobs: c.blobs, jobs: c.jobs, submit: c.submit, ensureLocal: c.ensureLocal, announce: c.announce }, { tmpDir })
  const provenance = new ProvenanceLookup({ jobs: c.jobs, blobs: c.blobs, ensureLocal: c.ensureLocal, roleAt: c.roleAt })
  const cache = new NixCache({ jobs: c.jobs, blobs: c.blobs, ensureLocal: c.ensureLocal, tool, logger: c.logger('nix-cache') }, {
    keyDir: c.home,
    keyName: `cit-${c.identity.id}`
  })
  void cache.start()
  return { executor, nix, cache, provenance }
}
