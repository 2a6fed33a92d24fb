/**
 * Validation of the job's surroundings: what a node must offer (`requires`),
 * the parameters a submitter fills in (`params`) and what is kept (`artefacts`).
 */
import {
  DEFAULT_CORES, DEFAULT_MEMORY_BYTES, LABEL_PATTERN, MAX_ARTEFACTS, MAX_CORES, MAX_GLOB_LENGTH, MAX_LABEL_LENGTH,
  MAX_LABELS, MAX_MEMORY_BYTES, MAX_PARAM_NAME_LENGTH, MAX_PARAM_VALUE_LENGTH, MAX_PARAMS, PARAM_NAME_PATTERN,
  RESERVED_PARAM_NAMES, RESERVED_PARAM_PREFIXES
} from './constants.js'
import { checkBoolean, checkInteger, checkKnownFields, checkList, checkMapping, field, isPlainObject, kindOf } from './check.js'
import { parseSize } from './values.js'
import type { Checker } from './check.js'
import type { ParamSpec, Requirements } from './types.js'
import type { PathSegment } from './values.js'

const REQUIRES_FIELDS: readonly string[] = ['labels', 'cores', 'memory', 'memoryBytes']
const PARAM_FIELDS: readonly string[] = ['default', 'required']

/** `requires`: labels (sorted, without repeats, so equal sets compare equal), cores and memory */
export function checkRequires (ck: Checker, value: unknown, segments: PathSegment[]): Requirements | undefined {
  const defaults: Requirements = { labels: [], cores: DEFAULT_CORES, memoryBytes: DEFAULT_MEMORY_BYTES }
  if (value === undefined) return defaults
  const obj = checkMapping(ck, value, segments)
  if (obj === undefined) return undefined
  checkKnownFields(ck, obj, segments, REQUIRES_FIELDS)
  const labels = checkLabels(ck, field(obj, 'labels'), [...segments, 'labels'])
  const coresValue = field(obj, 'cores')
  const cores = coresValue === undefined ? DEFAULT_CORES : checkInteger(ck, coresValue, [...segments, 'cores'], 1, MAX_CORES)
  const memoryBytes = checkMemory(ck, obj, segments)
  if (labels === undefined || cores === undefined || memoryBytes === undefined) return undefined
  return { labels, cores, memoryBytes }
}

function checkLabels (ck: Checker, value: unknown, segments: PathSegment[]): string[] | undefined {
  if (value === undefined) return []
  const list = checkList(ck, value, segments)
  if (list === undefined) return undefined
  if (list.length > MAX_LABELS) {
    ck.add(segments, `at most ${MAX_LABELS} labels (has ${list.length})`)
    return undefined
  }
  let ok = true
  list.forEach((label, i) => {
    if (typeof label !== 'string' || label.length > MAX_LABEL_LENGTH || !LABEL_PATTERN.test(label)) {
      ck.add([...segments, i], `must be a label of 1 to ${MAX_LABEL_LENGTH} letters, digits or . _ : = + / -` +
        (typeof label === 'string' ? '' : `, not ${kindOf(label)}`))
      ok = false
    }
  })
  return ok ? [...new Set(list as string[])].sort() : undefined
}

function checkMemory (ck: Checker, obj: Record<string, unknown>, segments: PathSegment[]): number | undefined {
  const memory = field(obj, 'memory')
  const memoryBytes = field(obj, 'memoryBytes')
  if (memory !== undefined && memoryBytes !== undefined) {
    ck.add([...segments, 'memoryBytes'], 'give memory or memoryBytes, not both')
    return undefined
  }
  if (memoryBytes !== undefined) return checkInteger(ck, memoryBytes, [...segments, 'memoryBytes'], 0, MAX_MEMORY_BYTES)
  if (memory === undefined) return DEFAULT_MEMORY_BYTES
  const bytes = parseSize(memory)
  if (bytes === undefined) {
    ck.add([...segments, 'memory'], 'not a size (use e.g. 512M, 2G, 1.5G; a plain number is bytes)')
    return undefined
  }
  if (bytes > MAX_MEMORY_BYTES) {
    ck.add([...segments, 'memory'], `must be at most ${MAX_MEMORY_BYTES / 1024 ** 4}T`)
    return undefined
  }
  return bytes
}

/**
 * Why `name` cannot be a param name, or undefined when it can. Param names become
 * environment variables of every step, so they must be portable variable names
 * and must not replace what the runner, the shell or the loader rely on.
 */
export function paramNameProblem (name: string): string | undefined {
  if (name.length > MAX_PARAM_NAME_LENGTH) return `param names are at most ${MAX_PARAM_NAME_LENGTH} characters`
  if (!PARAM_NAME_PATTERN.test(name)) {
    return 'not a valid param name: it becomes an environment variable, so use letters, digits and _, not starting with a digit'
  }
  if (RESERVED_PARAM_NAMES.has(name)) return `${name} is reserved (the runner or the shell sets it)`
  const prefix = RESERVED_PARAM_PREFIXES.find((p) => name.startsWith(p))
  if (prefix !== undefined) return `names starting with ${prefix} are reserved`
  return undefined
}

/** why `value` cannot be a param value, or undefined when it can (it goes into the environment) */
export function paramValueProblem (value: string): string | undefined {
  if (value.length > MAX_PARAM_VALUE_LENGTH) return `longer than ${MAX_PARAM_VALUE_LENGTH} characters`
  if (value.includes('\0')) return 'must not contain a NUL character'
  return undefined
}

/**
 * `params`: a mapping from name to `{ default: V }`, `{ required: true }`, `{}` (optional, no
 * default) or a bare value (shorthand for `{ default: V }`). Numbers and booleans become text.
 */
export function checkParams (ck: Checker, value: unknown, segments: PathSegment[]): Record<string, ParamSpec> | undefined {
  if (value === undefined) return {}
  const obj = checkMapping(ck, value, segments)
  if (obj === undefined) return undefined
  const names = Object.keys(obj)
  if (names.length > MAX_PARAMS) {
    ck.add(segments, `at most ${MAX_PARAMS} params (has ${names.length})`)
    return undefined
  }
  const entries: Array<[string, ParamSpec]> = []
  for (const name of names) {
    const path = [...segments, name]
    const nameProblem = paramNameProblem(name)
    if (nameProblem !== undefined) ck.add(path, nameProblem)
    const param = checkParam(ck, obj[name], path)
    if (param !== undefined && nameProblem === undefined) entries.push([name, param])
  }
  // fromEntries defines own properties, so no name can reach a prototype
  return entries.length === names.length ? Object.fromEntries(entries) : undefined
}

function checkParam (ck: Checker, value: unknown, segments: PathSegment[]): ParamSpec | undefined {
  if (!isPlainObject(value)) {
    const text = paramText(ck, value, segments)
    return text === undefined ? undefined : { required: false, default: text }
  }
  checkKnownFields(ck, value, segments, PARAM_FIELDS)
  const requiredValue = field(value, 'required')
  const required = requiredValue === undefined ? false : checkBoolean(ck, requiredValue, [...segments, 'required'])
  const defaultValue = field(value, 'default')
  if (defaultValue === undefined) return required === undefined ? undefined : { required }
  const text = paramText(ck, defaultValue, [...segments, 'default'])
  if (required === true) {
    ck.add(segments, 'a required param cannot have a default (drop one of them)')
    return undefined
  }
  return text === undefined || required === undefined ? undefined : { required, default: text }
}

function paramText (ck: Checker, value: unknown, segments: PathSegment[]): string | undefined {
  let text: string
  if (typeof value === 'string') text = value
  else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') text = String(value)
  else {
    const hint = value === null || value === undefined ? ' (give a default value, or { required: true })' : ''
    ck.add(segments, `must be a value (text, a number or a boolean) or a mapping with default/required, not ${kindOf(value)}${hint}`)
    return undefined
  }
  const problem = paramValueProblem(text)
  if (problem !== undefined) ck.add(segments, problem)
  return problem === undefined ? text : undefined
}

/**
 * `artefacts`: glob patterns relative to the workspace; one starting with `!`
 * excludes what it matches. Absolute patterns and `..` segments (also inside
 * braces or extglobs, or escaped) are refused: they could only match outside the
 * workspace. A leading `./` is dropped.
 */
export function checkArtefacts (ck: Checker, value: unknown, segments: PathSegment[]): string[] | undefined {
  if (value === undefined) return []
  const list = checkList(ck, value, segments)
  if (list === undefined) return undefined
  if (list.length > MAX_ARTEFACTS) {
    ck.add(segments, `at most ${MAX_ARTEFACTS} patterns (has ${list.length})`)
    return undefined
  }
  const globs: string[] = []
  list.forEach((glob, i) => {
    const problem = globProblem(glob)
    if (problem === undefined) globs.push(normaliseGlob(glob as string))
    else ck.add([...segments, i], problem)
  })
  return globs.length === list.length ? globs : undefined
}

// `..` as a whole segment, where a segment may also be bounded by brace/extglob syntax: ../x, a/.., {..,b}, @(..)
const PARENT_SEGMENT = /(?:^|[/{,(|])\.\.(?:$|[/},)|])/
// an alternative that starts at the root or the home directory: /x, ~/x, {/etc,a}, @(/etc)
const ROOTED_ALTERNATIVE = /(?:^|[{,(|])[/~]/

function globProblem (glob: unknown): string | undefined {
  if (typeof glob !== 'string') return `must be a glob pattern (text), not ${kindOf(glob)}`
  if (glob.length > MAX_GLOB_LENGTH) return `longer than ${MAX_GLOB_LENGTH} characters`
  if (glob.includes('\0')) return 'must not contain a NUL character'
  const body = negated(glob) ? glob.slice(1) : glob
  // escapes match the escaped character itself, so \.\./x would still mean ../x
  const plain = body.replaceAll('\\', '')
  if (ROOTED_ALTERNATIVE.test(plain)) return 'must be relative to the workspace (no leading / or ~)'
  if (PARENT_SEGMENT.test(plain)) return 'must not contain .. segments (artefacts may not leave the workspace)'
  const normalised = normaliseGlob(body)
  if (normalised.trim() === '' || normalised === '.') return 'must name files in the workspace, not be empty or the workspace itself'
  return undefined
}

/** `!x` excludes x; `!(x)` is an extglob, not a negation */
function negated (glob: string): boolean {
  return glob.startsWith('!') && !glob.startsWith('!(')
}

function normaliseGlob (glob: string): string {
  if (negated(glob)) return '!' + normaliseGlob(glob.slice(1))
  let out = glob
  while (out.startsWith('./')) out = out.slice(2).replace(/^\/+/, '')
  return out
}
