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
}

export interface UsageRecord {
  wallMs: number
  cpuMs: number
  maxRssBytes: number
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
}
