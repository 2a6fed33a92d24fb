/**
 * The normalised job specification: what a job file becomes after parsing and
 * validation, and what a job announcement carries on the wire.
 */
import type { JobNotifyRule } from './validate-notify.js'

export const SUPERSEDE_MODES = ['waiting', 'running', 'none'] as const
export type SupersedeMode = typeof SUPERSEDE_MODES[number]

/** `host`: the node's network (the default); `none`: no network but the job's own loopback */
export const NETWORK_MODES = ['host', 'none'] as const
export type NetworkMode = typeof NETWORK_MODES[number]

export interface ParamSpec {
  /** value used when the submitter gives none */
  default?: string
  /** the submitter must give a value (no default) */
  required: boolean
}

export interface Requirements {
  labels: string[]
  cores: number
  /** bytes */
  memoryBytes: number
}

export interface Hooks {
  onStart?: string
  onSuccess?: string
  onFailure?: string
}

export interface StepSpec {
  title: string
  command: string
  ignoreExitCode: boolean
}

export interface StageSpec extends Hooks {
  title: string
  steps: StepSpec[]
}

/**
 * A Nix job's work: realise one derivation. The derivation's closure (its `.drv` and everything
 * it needs that a builder may lack) was exported by the submitter and is in the content store.
 */
export interface NixSpec {
  /** the store path of the derivation (`/nix/store/<hash>-<name>.drv`) */
  drv: string
  /** sha256 of the exported closure of the derivation (`nix-store --export` bytes) */
  closure: string
}

/** A rebuild (`verify --rebuild`): the job it re-runs, that job's statement, and who built it then. */
export interface RebuildSpec {
  /** the job re-run */
  of: string
  /** sha256 of its provenance statement: the rebuilder co-signs it when the outputs match */
  statement: string
  /** its builder's key id: the rebuild runs anywhere else */
  builder: string
}

export interface JobSpec extends Hooks {
  name: string
  priority: number
  /** milliseconds */
  timeoutMs: number
  requires: Requirements
  params: Record<string, ParamSpec>
  supersede: SupersedeMode
  cache: boolean
  stages: StageSpec[]
  /** glob patterns relative to the workspace */
  artefacts: string[]
  /** a Nix job: the daemon realises this derivation instead of running stages (which are empty) */
  nix?: NixSpec
  /** a rebuild of an earlier job, to compare outputs (reproducibility) */
  rebuild?: RebuildSpec
  /**
   * `none`: the job runs cut off from every network (only a loopback of its own). Absent means
   * the node's network: the normal form leaves the default out, so specs without the field stay
   * byte for byte what they were.
   */
  network?: 'none'
  /** who hears of this job's results, over http (protocols/job/validate-notify.ts); absent when none */
  notify?: JobNotifyRule[]
}

/** One problem found in a job file, named by its dotted path (`stages[1].steps[0].command`). */
export interface Problem {
  /** dotted path of the field; '' for the whole file (a syntax error, an empty file) */
  path: string
  message: string
  /** 1-based position in the job file, when the problem came from a parsed file and could be located */
  line?: number
  column?: number
}
