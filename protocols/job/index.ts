/**
 * Job files: what a person writes and what a job announcement carries.
 *
 * - `parseJobFile(text)` (in `./parse.js`, kept out of this index so that a daemon loads the
 *   YAML parser only when it first reads a job file) reads YAML or JSON, refuses hostile text
 *   cheaply (size, nesting, alias bombs) and validates it; `validateJobSpec(value)` validates a
 *   value that arrived another way (a CBOR message from a peer). Both list every
 *   problem by dotted path and return the normalised `JobSpec` with defaults.
 * - `parseParamOverrides(['K=V'])` and `resolveParams(spec, overrides)` turn
 *   `--param` arguments into the values the job's steps see as environment variables.
 * - `inputKey(spec, params)` hashes what determines the result, for the result cache.
 *
 * The full reference for people is docs/job-file.md.
 */
export { validateJobSpec } from './validate.js'
export type { ValidationResult } from './validate.js'
export { parseParamOverrides, resolveParams } from './params.js'
export type { ParamValues } from './params.js'
export { paramNameProblem } from './validate-fields.js'
export { inputKey } from './input-key.js'
export { JobFileError, formatProblem, formatProblems } from './errors.js'
export { parseDuration, parseSize, formatPath } from './values.js'
export * from './constants.js'
export { NETWORK_MODES, SUPERSEDE_MODES } from './types.js'
export { isStorePath, isDerivationPath } from './validate-nix.js'
export type { NixSpec } from './types.js'
export type { JobSpec, StageSpec, StepSpec, ParamSpec, Requirements, Hooks, SupersedeMode, Problem } from './types.js'
export { validateAnnouncement, validateEvent } from './announcement.js'
export { sourceEnv, keyParams, sourceProblem } from './source.js'
export type { JobSource } from './source.js'
export { JOB_STATES, EVENT_TYPES, FINAL_STATES, isFinal, blobsOf } from './records.js'
export type { JobAnnouncement, JobEvent, JobResult, JobState, EventType, ArtefactRef, UsageRecord, NixOutput, NixResult, RebuildCheck } from './records.js'
