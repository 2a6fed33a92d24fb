import type { JobSource } from '../../protocols/job/source.js'
import type { ArtefactRef, EventType, JobState, NixResult, RebuildCheck, UsageRecord } from '../../protocols/job/records.js'
import type { JobSpec } from '../../protocols/job/types.js'

/** What a node knows of a job: its announcement plus everything its events established. */
export interface JobRow {
  id: string
  name: string
  state: JobState
  priority: number
  /** key id of the submitter (who signed the announcement) */
  submitter: string
  /** node the job was submitted on */
  origin: string
  submittedAt: number
  updatedAt: number
  spec: JobSpec
  params: Record<string, string>
  /** the announcement has reached at least one peer (always true on a node without peers) */
  announced: boolean
  /** the only node that may run it (`cit-node run`), when the submitter pinned it */
  runOn?: string
  executor?: string
  /** the lease epoch of the newest run event applied (claimed, started, requeued, finished) */
  epoch?: number
  /** how far that epoch's run got: 0 claimed, 1 started, 2 given up (requeued, lease lost), 3 finished */
  phase?: number
  /** in a mesh: the job's acceptors, as its announcement names them */
  acceptors?: string[]
  /** the acceptors' grants of `epoch` (from its `started` event): the run's lease, and a claimant's proof past a lagging acceptor */
  grants?: Uint8Array[]
  exitCode?: number | null
  reason?: string
  cacheHit?: boolean
  cachedFrom?: string
  usage?: UsageRecord
  log?: string
  artefacts?: ArtefactRef[]
  /** a Nix job's outputs */
  nix?: NixResult
  /** sha256 of the result's signed provenance statement */
  provenance?: string
  /** a rebuild's comparison with the job it re-ran */
  rebuild?: RebuildCheck
  /** where the job's sources came from, when a trigger made it (set by triggers) */
  source?: JobSource
  /** the run's number among the jobs of its name */
  build?: number
  startedAt?: number
  finishedAt?: number
}

/** The repository and commit a triggered job built. */
export type { JobSource } from '../../protocols/job/source.js'

/** One event as shown to people and scripts. */
export interface EventView {
  type: EventType
  node: string
  /** key id that signed the event */
  by: string
  at: number
  state?: JobState
  reason?: string
  /** sha256 of the signed event envelope */
  hash: string
}

/** The `show --json` shape (DESIGN.md). */
export interface JobView {
  id: string
  name: string
  state: JobState
  priority: number
  submitter: string
  executor: string | null
  exitCode: number | null
  cacheHit: boolean
  /** for a cache hit: the job whose result was reused */
  cachedFrom: string | null
  reason: string | null
  submittedAt: number
  events: EventView[]
  usage: UsageRecord | null
  log: string | null
  artefacts: ArtefactRef[]
  params: Record<string, string>
  announced: boolean
  /** the only node that may run it (`cit-node run` pins a job to the node it talks to) */
  runOn: string | null
  /** in a mesh: the members whose majority holds the job's lease and decides its result */
  acceptors: string[] | null
  /** a Nix job: the derivation and, once built, its outputs */
  nix?: { drv: string, outputs: NixResult['outputs'] }
  /** sha256 of the signed provenance statement of the result (`cit-node verify`) */
  provenance?: string
  /** a rebuild (`verify --rebuild`): how it compared with the job it re-ran */
  rebuild?: RebuildCheck
  /** the run's number among the jobs of its name */
  build?: number
  /** a triggered job: the repository and commit it builds */
  source?: JobSource
}

/** The `jobs --json` row shape (DESIGN.md). */
export interface JobSummary {
  id: string
  name: string
  state: JobState
  priority: number
  submitter: string
  executor: string | null
  /** its result was reused from an earlier job (`executor` is then the node that ran that one) */
  cacheHit: boolean
  submittedAt: number
  build?: number
}
