/**
 * Validation of a job spec given as a plain value (from YAML, JSON, or a CBOR
 * message from a peer). Reports every problem by its dotted path and, when there
 * are none, returns the normalised JobSpec with every default filled in.
 *
 * The normalised form validates to itself: `timeoutMs` and `requires.memoryBytes`
 * are accepted in place of `timeout` and `requires.memory`, so a spec that came
 * over the wire goes through the same checks as a file.
 */
import {
  DEFAULT_PRIORITY, DEFAULT_TIMEOUT_MS, JOB_NAME_PATTERN, MAX_NAME_LENGTH, MAX_PRIORITY, MAX_TIMEOUT_MS,
  MIN_PRIORITY, MIN_TIMEOUT_MS
} from './constants.js'
import {
  Checker, checkBoolean, checkInteger, checkKnownFields, field, isPlainObject, kindOf
} from './check.js'
import { checkArtefacts, checkParams, checkRequires } from './validate-fields.js'
import { HOOK_NAMES, checkHooks, checkStages } from './validate-stages.js'
import { checkNix, checkRebuild } from './validate-nix.js'
import { checkJobNotify } from './validate-notify.js'
import { NETWORK_MODES, SUPERSEDE_MODES } from './types.js'
import { parseDuration } from './values.js'
import type { JobSpec, NetworkMode, Problem, SupersedeMode } from './types.js'

const JOB_FIELDS: readonly string[] = [
  'name', 'priority', 'timeout', 'timeoutMs', 'requires', 'params', 'supersede', 'cache', 'network', ...HOOK_NAMES, 'stages', 'artefacts', 'nix', 'rebuild', 'notify'
]

export interface ValidationResult {
  /** present only when there are no problems */
  spec?: JobSpec
  problems: Problem[]
}

/**
 * Checks a plain value as a job spec. Never throws on bad input; lists every
 * problem (up to MAX_PROBLEMS) by dotted path, e.g. `stages[1].steps[0].command: required`.
 */
export function validateJobSpec (raw: unknown): ValidationResult {
  const ck = new Checker()
  const spec = checkJobSpec(ck, raw)
  const problems = ck.problems()
  return spec === undefined || problems.length > 0 ? { problems } : { spec, problems }
}

/** the validator with its problems kept as path segments (the parser locates them in the file) */
export function checkJobSpec (ck: Checker, raw: unknown): JobSpec | undefined {
  if (raw === undefined || raw === null) {
    ck.add([], 'the job file is empty')
    return undefined
  }
  if (!isPlainObject(raw)) {
    ck.add([], `a job must be a mapping of fields (name, stages, ...), not ${kindOf(raw)}`)
    return undefined
  }
  checkKnownFields(ck, raw, [], JOB_FIELDS)
  const name = checkName(ck, field(raw, 'name'))
  const priorityValue = field(raw, 'priority')
  const priority = priorityValue === undefined
    ? DEFAULT_PRIORITY
    : checkInteger(ck, priorityValue, ['priority'], MIN_PRIORITY, MAX_PRIORITY)
  const timeoutMs = checkTimeout(ck, raw)
  const requires = checkRequires(ck, field(raw, 'requires'), ['requires'])
  const params = checkParams(ck, field(raw, 'params'), ['params'])
  const supersede = checkSupersede(ck, field(raw, 'supersede'))
  const cacheValue = field(raw, 'cache')
  const cache = cacheValue === undefined ? false : checkBoolean(ck, cacheValue, ['cache'])
  const hooks = checkHooks(ck, raw, [])
  const rebuildValue = field(raw, 'rebuild')
  const rebuild = rebuildValue === undefined ? undefined : checkRebuild(ck, rebuildValue, ['rebuild'])
  const notifyValue = field(raw, 'notify')
  const notify = notifyValue === undefined ? undefined : checkJobNotify(ck, notifyValue, ['notify'])
  const extra = { ...(rebuild !== undefined ? { rebuild } : {}), ...(notify !== undefined ? { notify } : {}) }
  if (field(raw, 'nix') !== undefined) {
    // Nix builds in a sandbox of its own, which decides about the network
    if (field(raw, 'network') !== undefined) ck.add(['network'], 'a Nix job has no network setting: Nix\'s own sandbox decides')
    const job = checkNixJob(ck, raw, { name, priority, timeoutMs, requires, params, supersede, cache })
    return job === undefined ? undefined : { ...job, ...extra }
  }
  const stages = checkStages(ck, field(raw, 'stages'), ['stages'])
  const artefacts = checkArtefacts(ck, field(raw, 'artefacts'), ['artefacts'])
  const network = checkNetwork(ck, field(raw, 'network'))
  if (ck.count > 0 || name === undefined || priority === undefined || timeoutMs === undefined ||
      requires === undefined || params === undefined || supersede === undefined || cache === undefined ||
      artefacts === undefined || network === undefined) {
    return undefined
  }
  const spec: JobSpec = { name, priority, timeoutMs, requires, params, supersede, cache, ...hooks, stages, artefacts, ...extra }
  // the default stays out of the normal form (see JobSpec.network)
  if (network === 'none') spec.network = 'none'
  return spec
}

/**
 * A Nix job: its work is the derivation, realised by the daemon, so it has no stages, hooks,
 * artefact globs or params (its outputs are its artefacts). `stages: []` is accepted so the
 * normalised form validates to itself.
 */
function checkNixJob (ck: Checker, raw: Record<string, unknown>, common: Partial<JobSpec>): JobSpec | undefined {
  const nix = checkNix(ck, field(raw, 'nix'), ['nix'])
  const stages = field(raw, 'stages')
  if (stages !== undefined && !(Array.isArray(stages) && stages.length === 0)) ck.add(['stages'], 'a Nix job has no stages: its work is the derivation')
  for (const name of HOOK_NAMES) if (field(raw, name) !== undefined) ck.add([name], 'a Nix job has no hooks')
  const artefacts = field(raw, 'artefacts')
  if (artefacts !== undefined && !(Array.isArray(artefacts) && artefacts.length === 0)) ck.add(['artefacts'], 'a Nix job\'s artefacts are its outputs: no globs')
  if (common.params !== undefined && Object.keys(common.params).length > 0) ck.add(['params'], 'a Nix job takes no params')
  const { name, priority, timeoutMs, requires, params, supersede, cache } = common
  if (ck.count > 0 || nix === undefined || name === undefined || priority === undefined || timeoutMs === undefined ||
      requires === undefined || params === undefined || supersede === undefined || cache === undefined) {
    return undefined
  }
  return { name, priority, timeoutMs, requires, params, supersede, cache, stages: [], artefacts: [], nix }
}

function checkName (ck: Checker, value: unknown): string | undefined {
  if (value === undefined) {
    ck.add(['name'], 'required: the job\'s name, e.g. `name: libfoo-tests`')
    return undefined
  }
  if (typeof value !== 'string') {
    ck.add(['name'], `must be text, not ${kindOf(value)}`)
    return undefined
  }
  if (value.length === 0 || value.length > MAX_NAME_LENGTH || !JOB_NAME_PATTERN.test(value)) {
    ck.add(['name'], `must be 1 to ${MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', not starting with '.' or '-' ` +
      '(it names the job\'s workspace directory)')
    return undefined
  }
  return value
}

function checkTimeout (ck: Checker, obj: Record<string, unknown>): number | undefined {
  const timeout = field(obj, 'timeout')
  const timeoutMs = field(obj, 'timeoutMs')
  if (timeout !== undefined && timeoutMs !== undefined) {
    ck.add(['timeoutMs'], 'give timeout or timeoutMs, not both')
    return undefined
  }
  if (timeoutMs !== undefined) return checkInteger(ck, timeoutMs, ['timeoutMs'], MIN_TIMEOUT_MS, MAX_TIMEOUT_MS)
  if (timeout === undefined) return DEFAULT_TIMEOUT_MS
  const ms = parseDuration(timeout)
  if (ms === undefined) {
    ck.add(['timeout'], 'not a duration (use e.g. 90s, 20m, 2h)')
    return undefined
  }
  if (ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS) {
    ck.add(['timeout'], `must be between ${MIN_TIMEOUT_MS / 1000}s and ${MAX_TIMEOUT_MS / 86_400_000}d`)
    return undefined
  }
  return ms
}

function checkNetwork (ck: Checker, value: unknown): NetworkMode | undefined {
  if (value === undefined) return 'host'
  const mode = NETWORK_MODES.find((m) => m === value)
  if (mode === undefined) ck.add(['network'], `must be one of ${NETWORK_MODES.join(', ')} (none: the job runs without a network)`)
  return mode
}

function checkSupersede (ck: Checker, value: unknown): SupersedeMode | undefined {
  if (value === undefined) return 'waiting'
  const mode = SUPERSEDE_MODES.find((m) => m === value)
  if (mode === undefined) ck.add(['supersede'], `must be one of ${SUPERSEDE_MODES.join(', ')}`)
  return mode
}
