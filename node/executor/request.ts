/**
 * Checks on a RunRequest before anything runs. Job files are validated in full at the edge
 * (protocols/job); these are the few properties the executor's own safety rests on, checked
 * again because a request may come from code that skipped validation.
 */
import {
  JOB_NAME_PATTERN, MAX_NAME_LENGTH, PARAM_NAME_PATTERN, RESERVED_PARAM_NAMES, RESERVED_PARAM_PREFIXES
} from '../../protocols/job/constants.js'
import { InvalidRunRequestError } from './errors.js'
import type { RunRequest } from './types.js'

function checkText (field: string, value: unknown): void {
  if (typeof value !== 'string') throw new InvalidRunRequestError(field, `must be text, not ${typeof value}`)
  // argv and environment strings end at NUL: a NUL would silently cut the command short
  if (value.includes('\0')) throw new InvalidRunRequestError(field, 'contains a NUL character')
}

function checkHooks (path: string, hooks: { onStart?: string, onSuccess?: string, onFailure?: string }): void {
  for (const name of ['onStart', 'onSuccess', 'onFailure'] as const) {
    if (hooks[name] !== undefined) checkText(`${path}${name}`, hooks[name])
  }
}

/** the timeout that applies to `req` in ms; throws when neither the request nor the spec gives a usable one */
export function effectiveTimeout (req: RunRequest): number {
  const ms = req.timeoutMs ?? req.spec.timeoutMs
  const field = req.timeoutMs !== undefined ? 'timeoutMs' : 'spec.timeoutMs'
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) {
    throw new InvalidRunRequestError(field, `must be a number of milliseconds > 0, not ${String(ms)}`)
  }
  // setTimeout cannot wait longer than 2^31-1 ms (~24.8 days); job timeouts stay far below that
  return Math.min(Math.ceil(ms), 2 ** 31 - 1)
}

/** Throws InvalidRunRequestError naming the first problem found. */
export function checkRunRequest (req: RunRequest): void {
  checkText('jobId', req.jobId)
  if (req.jobId === '') throw new InvalidRunRequestError('jobId', 'must not be empty')
  const spec = req.spec
  if (spec == null || typeof spec !== 'object') throw new InvalidRunRequestError('spec', 'missing')
  checkText('spec.name', spec.name)
  if (spec.name.length > MAX_NAME_LENGTH || !JOB_NAME_PATTERN.test(spec.name)) {
    // the name becomes a directory name: never `..`, never a path
    throw new InvalidRunRequestError('spec.name', `must be 1 to ${MAX_NAME_LENGTH} characters of [A-Za-z0-9._-], not starting with "." or "-"`)
  }
  effectiveTimeout(req)
  checkHooks('spec.', spec)
  if (!Array.isArray(spec.stages)) throw new InvalidRunRequestError('spec.stages', 'must be a list')
  spec.stages.forEach((stage, i) => {
    checkHooks(`spec.stages[${i}].`, stage)
    if (!Array.isArray(stage.steps)) throw new InvalidRunRequestError(`spec.stages[${i}].steps`, 'must be a list')
    stage.steps.forEach((step, j) => { checkText(`spec.stages[${i}].steps[${j}].command`, step.command) })
  })
  if (!Array.isArray(spec.artefacts)) throw new InvalidRunRequestError('spec.artefacts', 'must be a list')
  spec.artefacts.forEach((glob, i) => { checkText(`spec.artefacts[${i}]`, glob) })
  if (req.params == null || typeof req.params !== 'object') throw new InvalidRunRequestError('params', 'must be a mapping')
  for (const [name, value] of Object.entries(req.params)) {
    if (!PARAM_NAME_PATTERN.test(name)) throw new InvalidRunRequestError(`params.${name}`, 'not a usable environment variable name')
    if (RESERVED_PARAM_NAMES.has(name) || RESERVED_PARAM_PREFIXES.some(p => name.startsWith(p))) {
      throw new InvalidRunRequestError(`params.${name}`, 'reserved: the runner sets it, or it changes how every command runs')
    }
    checkText(`params.${name}`, value)
  }
}
