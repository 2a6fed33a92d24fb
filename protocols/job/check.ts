/**
 * The small vocabulary the validator is written in: a problem collector that
 * keeps each problem's path as segments (so the parser can point at the line),
 * and checks for the value kinds job files use. Every check reports and returns
 * undefined on a bad value, so validation goes on and finds every problem.
 */
import { MAX_COMMAND_LENGTH, MAX_PROBLEMS, MAX_TITLE_LENGTH } from './constants.js'
import { CONTROL_CHARACTERS, formatPath, nearestName } from './values.js'
import type { PathSegment } from './values.js'
import type { Problem } from './types.js'

export interface FoundProblem {
  segments: PathSegment[]
  message: string
}

/** Collects problems up to MAX_PROBLEMS; past it, counts what it drops. */
export class Checker {
  readonly found: FoundProblem[] = []
  dropped = 0

  add (segments: PathSegment[], message: string): void {
    if (this.found.length < MAX_PROBLEMS) this.found.push({ segments, message })
    else this.dropped++
  }

  get count (): number {
    return this.found.length + this.dropped
  }

  /** past MAX_PROBLEMS: only counted, so callers may skip the work of wording a problem */
  get full (): boolean {
    return this.found.length >= MAX_PROBLEMS
  }

  /** the problems as the public API reports them, with a last one saying how many were left out */
  problems (): Problem[] {
    const out: Problem[] = this.found.map((p) => ({ path: formatPath(p.segments), message: p.message }))
    if (this.dropped > 0) out.push(droppedProblem(this.dropped))
    return out
  }
}

export function droppedProblem (dropped: number): Problem {
  return { path: '', message: `${dropped} more problem${dropped === 1 ? '' : 's'} not listed (only the first ${MAX_PROBLEMS} are)` }
}

/** a mapping as YAML, JSON and CBOR decoders produce it: no class instances, no arrays */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** how a value is named in "must be X, not Y" messages */
export function kindOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (isPlainObject(value)) return 'a mapping'
  if (value instanceof Uint8Array) return 'bytes'
  if (typeof value === 'string') return 'text'
  if (typeof value === 'number' || typeof value === 'bigint') return 'a number'
  if (typeof value === 'boolean') return 'a boolean'
  return typeof value
}

/**
 * An own field's value. null counts as absent, so `onStart:` with nothing after
 * it in YAML means "no hook", the same as leaving the line out.
 */
export function field (obj: Record<string, unknown>, key: string): unknown {
  if (!Object.hasOwn(obj, key)) return undefined
  const value = obj[key]
  return value === null ? undefined : value
}

/** reports every key of `obj` not in `allowed`, with a hint when it looks like a typo */
export function checkKnownFields (ck: Checker, obj: Record<string, unknown>, segments: PathSegment[], allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue
    if (ck.full) {
      ck.dropped++
      continue
    }
    const near = key.length <= 64 ? nearestName(key, allowed) : undefined
    ck.add([...segments, key], near === undefined ? 'unknown field' : `unknown field (did you mean "${near}"?)`)
  }
}

/** a mapping, or a problem naming what was given instead */
export function checkMapping (ck: Checker, value: unknown, segments: PathSegment[]): Record<string, unknown> | undefined {
  if (isPlainObject(value)) return value
  ck.add(segments, `must be a mapping, not ${kindOf(value)}`)
  return undefined
}

/** a list, or a problem naming what was given instead */
export function checkList (ck: Checker, value: unknown, segments: PathSegment[]): unknown[] | undefined {
  if (Array.isArray(value)) return value
  ck.add(segments, `must be a list, not ${kindOf(value)}`)
  return undefined
}

/** a shell command (a step's or a hook's): non-blank text without NUL bytes */
export function checkCommand (ck: Checker, value: unknown, segments: PathSegment[]): string | undefined {
  if (typeof value !== 'string') {
    ck.add(segments, `must be a command (text), not ${kindOf(value)}${quoteHint(value)}`)
    return undefined
  }
  if (value.trim() === '') ck.add(segments, 'must not be empty')
  else if (value.length > MAX_COMMAND_LENGTH) ck.add(segments, `longer than ${MAX_COMMAND_LENGTH} characters`)
  else if (value.includes('\0')) ck.add(segments, 'must not contain a NUL character')
  else return value
  return undefined
}

/** YAML reads `- true`, `- false` and `- 42` as a boolean and a number: the fix is quotes */
export function quoteHint (value: unknown): string {
  return typeof value === 'boolean' || typeof value === 'number' ? ` (quote it: "${String(value)}")` : ''
}

/** a title: one line of 1..MAX_TITLE_LENGTH printable characters, trimmed */
export function checkTitle (ck: Checker, value: unknown, segments: PathSegment[]): string | undefined {
  if (typeof value !== 'string') {
    ck.add(segments, `must be text, not ${kindOf(value)}`)
    return undefined
  }
  const title = value.trim()
  if (title === '') ck.add(segments, 'must not be empty')
  else if (title.length > MAX_TITLE_LENGTH) ck.add(segments, `longer than ${MAX_TITLE_LENGTH} characters`)
  else if (CONTROL_CHARACTERS.test(title)) ck.add(segments, 'must be one line without control characters')
  else return title
  return undefined
}

/** true or false; YAML 1.2 reads `yes`/`no`/`on`/`off` as text, so say so */
export function checkBoolean (ck: Checker, value: unknown, segments: PathSegment[]): boolean | undefined {
  if (typeof value === 'boolean') return value
  const hint = typeof value === 'string' ? ' (unquoted, e.g. `cache: true`)' : ''
  ck.add(segments, `must be true or false${hint}`)
  return undefined
}

/** a whole number within [min, max] */
export function checkInteger (ck: Checker, value: unknown, segments: PathSegment[], min: number, max: number): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    ck.add(segments, typeof value === 'number' ? 'must be a whole number' : `must be a whole number, not ${kindOf(value)}`)
    return undefined
  }
  if (value < min || value > max) {
    ck.add(segments, `must be between ${min} and ${max}`)
    return undefined
  }
  return value
}
