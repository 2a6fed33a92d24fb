import type { JobSource } from './source.js'
import type { JobSpec } from './types.js'

/** Payload of a signed `job` envelope: a submission. The job's id is the envelope's hash. */
export interface JobAnnouncement {
  spec: JobSpec
  /** resolved parameter values (defaults applied, overrides merged) */
  params: Record<string, string>
  /** effective priority (the file's, or the submitter's override) */
  priority: number
  /** ms since the epoch, by the submitting node's clock */
  submittedAt: number
  /** peer id of the node the job was submitted on */
  node: string
  /** random hex so two identical submissions are two jobs */
  nonce: string
  /**
   * In a mesh: the members whose majority holds the job's lease and decides its result (the
   * builders closest to the sha256 of `nonce` in the kad keyspace), and `trust`, a digest of the
   * builder set they were chosen from, so a node with the same set can check the choice.
   */
  acceptors?: string[]
  trust?: string
  /** the only node that may run it (`cit-node run`: here and now); absent = any eligible node */
  runOn?: string
  /** in a mesh: its id, so a key that is a member of two meshes cannot carry the job from one to the other */
  mesh?: string
  /** a triggered job: the repository and commit it builds (protocols/job/source.ts) */
  source?: JobSource
  /** the run's number among the jobs of its name (its submitter's count + 1) */
  build?: number
}

export const JOB_STATES = ['queued', 'claimed', 'running', 'succeeded', 'failed', 'timed-out', 'cancelled', 'superseded'] as const
export type JobState = typeof JOB_STATES[number]
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'timed-out', 'cancelled', 'superseded'])

export function isFinal (state: JobState): boolean {
  return FINAL_STATES.has(state)
}

export interface ArtefactRef {
  path: string
  sha256: string
  size: number
  /** permission bits of the file as the job left it (0 to 0o777: never setuid, setgid or sticky) */
  mode?: number
}

/** the permission bits an artefact's mode may carry */
export const ARTEFACT_MODE_MASK = 0o777

export interface UsageRecord {
  wallMs: number
  cpuMs: number
  maxRssBytes: number
}

/** One output of a realised derivation, exported into the content store. */
export interface NixOutput {
  /** the output's name in the derivation (`out`, `dev`, ...) */
  name: string
  /** its store path */
  path: string
  /** Nix's hash of its NAR serialisation (`sha256:` and Nix base32, as `nix-store -q --hash` prints) */
  narHash: string
  /** sha256 of the exported closure of the output (`nix-store --export` bytes): fetch and `nix import` it */
  closure: string
}

/** What a Nix job produced. */
export interface NixResult {
  drv: string
  outputs: NixOutput[]
}

/** A rebuild's comparison with the job it re-ran (`verify --rebuild`). */
export interface RebuildCheck {
  /** the job that was re-run */
  of: string
  /** sha256 of that job's provenance statement */
  statement: string
  /** the outputs matched: the rebuilder co-signed the statement */
  matched: boolean
  /** what differed, by subject name (empty when matched) */
  mismatches: string[]
  /** when matched: the rebuilder's signature over the statement (DSSE, base64) */
  sig?: string
}

/** The outcome of one run, carried by a `finished` event. */
export interface JobResult {
  state: 'succeeded' | 'failed' | 'timed-out' | 'cancelled'
  exitCode: number | null
  reason?: string
  usage: UsageRecord
  /** sha256 of the asciicast v2 recording */
  log: string
  artefacts: ArtefactRef[]
  /** the result is an earlier job's, reused because the input keys matched */
  cacheHit?: boolean
  /** the job whose result was reused */
  cachedFrom?: string
  /** a Nix job's outputs */
  nix?: NixResult
  /** sha256 of the signed provenance statement (a DSSE envelope in the content store) */
  provenance?: string
  /** a rebuild: how its outputs compared with the original's */
  rebuild?: RebuildCheck
}

export const EVENT_TYPES = [
  'submitted', 'claimed', 'started', 'finished', 'cancel-requested', 'cancelled', 'superseded', 'failed', 'requeued', 'lease-lost',
  'reprioritized'
] as const
export type EventType = typeof EVENT_TYPES[number]

/**
 * Payload of a signed `event` envelope: one state change of a job, with who (the signer),
 * where (`node`) and when (`at`).
 */
export interface JobEvent {
  job: string
  type: EventType
  /** peer id of the node where it happened */
  node: string
  /** ms since the epoch by that node's clock */
  at: number
  /** the state the job enters, when the event changes it */
  state?: JobState
  reason?: string
  result?: JobResult
  /** the lease epoch the node held (claimed, started, finished, lease-lost): fences stale executors */
  epoch?: number
  /** the new priority (reprioritized) */
  priority?: number
  /**
   * In a mesh: the acceptors' signatures behind the event. On `started`, grants of a majority
   * of the job's acceptors for (job, epoch, node): the lease. On `finished` (and an executor's
   * `failed`), votes of a majority for this result: the finish certificate.
   */
  cert?: Uint8Array[]
  /** on a `finished` event published for another node's run (it could not finish it): that node */
  ran?: string
  /** in a mesh: its id (see JobAnnouncement.mesh) */
  mesh?: string
}

/** every blob a result names: its log, artefacts, Nix output closures and provenance statement */
export function blobsOf (result: Pick<JobResult, 'log' | 'artefacts' | 'nix' | 'provenance'>): string[] {
  const out = [result.log, ...result.artefacts.map(a => a.sha256), ...(result.nix?.outputs.map(o => o.closure) ?? [])]
  if (result.provenance != null) out.push(result.provenance)
  return out
}
