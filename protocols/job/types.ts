/**
 * The normalised job specification: what a job file becomes after parsing and
 * validation, and what a job announcement carries on the wire.
 */

export const SUPERSEDE_MODES = ['waiting', 'running', 'none'] as const
export type SupersedeMode = typeof SUPERSEDE_MODES[number]

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
