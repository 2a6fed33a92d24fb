/**
 * Parsing a job file: YAML, or JSON. Hostile text is refused cheaply, in this
 * order: size (before anything reads it), nesting and the number of values (by
 * yaml's lexer, then nesting again on its syntax tree, before a tree of values
 * is built), aliases (yaml's alias count while the value is built), then every
 * field by the validator. Problems carry
 * the line and column they were found at where the file lets us know it.
 */
import { Composer, LineCounter, Parser } from 'yaml'
import type { Document } from 'yaml'
import { MAX_ALIAS_COUNT, MAX_DEPTH, MAX_JOB_FILE_BYTES, MAX_JOB_FILE_VALUES, MAX_PRESCAN_DEPTH } from './constants.js'
import { Checker, droppedProblem } from './check.js'
import { duplicateKeys, offsetOf, positionInText, positionOf } from './locate.js'
import { cstDepth, prescan, valueDepthProblem } from './guards.js'
import { checkJobSpec } from './validate.js'
import { formatPath } from './values.js'
import { firstCause } from './yaml-hints.js'
import type { FoundProblem } from './check.js'
import type { JobSpec, Problem } from './types.js'
import type { PathSegment } from './values.js'

export interface ParseOptions {
  /** the file's name: a `.json` name means strict JSON; otherwise JSON-looking text is tried as JSON first */
  filename?: string
}

export interface ParseResult {
  /** present only when there are no problems */
  spec?: JobSpec
  problems: Problem[]
}

const YAML_OPTIONS = {
  version: '1.2',
  strict: true,
  // checked by duplicateKeys instead: yaml's check is quadratic in the number of keys
  uniqueKeys: false,
  prettyErrors: false,
  // yaml would otherwise print warnings to the process's stderr
  logLevel: 'silent',
  merge: false
} as const

const TOO_DEEP = `nested too deeply (at most ${MAX_DEPTH} levels)`
const DUPLICATE_KEY = 'given more than once (keys must be unique)'
// the yaml errors job files run into most, with what to do about them
const HINTS: Partial<Record<string, string>> = {
  BLOCK_AS_IMPLICIT_KEY: ' (a command containing ": " must be quoted whole, e.g. onFailure: \'echo "failed: see log"\')'
}

/**
 * Parses and validates a job file. Never throws on bad input: every problem is
 * returned, each named by its dotted path (and line/column when known), e.g.
 * `stages[1].steps[0].command: required`.
 */
export function parseJobFile (text: string, options: ParseOptions = {}): ParseResult {
  try {
    return parse(text, options)
  } catch (err) {
    // a bug, not bad input; still, a caller asked for problems, not an exception
    return { problems: [{ path: '', message: `cannot parse the job file: ${(err as Error)?.message ?? String(err)}` }] }
  }
}

function parse (text: string, options: ParseOptions): ParseResult {
  if (typeof text !== 'string') return fail('the job file must be text')
  // length counts UTF-16 units, never more than the UTF-8 bytes: a cheap first cut
  if (text.length > MAX_JOB_FILE_BYTES || Buffer.byteLength(text, 'utf8') > MAX_JOB_FILE_BYTES) {
    return fail(`larger than the limit of ${MAX_JOB_FILE_BYTES} bytes (${MAX_JOB_FILE_BYTES / 1024 / 1024} MiB)`)
  }
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text
  const excess = prescan(body, { depth: MAX_PRESCAN_DEPTH, values: MAX_JOB_FILE_VALUES })
  if (excess !== undefined) {
    const message = excess.limit === 'depth' ? TOO_DEEP : `more than ${MAX_JOB_FILE_VALUES} values (no valid job file has that many)`
    return fail(message, positionInText(body, excess.offset))
  }

  const strictJson = options.filename?.toLowerCase().endsWith('.json') === true
  if (strictJson || body.trimStart().startsWith('{')) {
    const json = parseJson(body)
    if ('value' in json) return fromJson(body, json.value)
    if (strictJson) return invalidJson(body, json)
    // `{name: x}` is YAML, not JSON: go on and read it as YAML
  }
  const yaml = parseYaml(body)
  if ('problems' in yaml) return { problems: yaml.problems }
  let value: unknown
  try {
    value = yaml.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    if (err instanceof ReferenceError) {
      return fail(`too many alias expansions (the limit is ${MAX_ALIAS_COUNT}): ${err.message}`)
    }
    throw err
  }
  return check(value, yaml.doc, yaml.lineCounter)
}

interface ParsedYaml {
  doc: Document
  lineCounter: LineCounter
}

/** yaml's parse with the depth of its syntax tree checked before values are composed */
function parseYaml (body: string): ParsedYaml | { problems: Problem[] } {
  const lineCounter = new LineCounter()
  const tokens = [...new Parser(lineCounter.addNewLine).parse(body)]
  if (cstDepth(tokens, MAX_PRESCAN_DEPTH) > MAX_PRESCAN_DEPTH) return { problems: [{ path: '', message: TOO_DEEP }] }
  const docs = [...new Composer(YAML_OPTIONS).compose(tokens, true, body.length)]
  const doc = docs[0]
  const problems: Problem[] = []
  if (docs.length > 1) {
    problems.push({
      path: '',
      message: 'more than one YAML document (a job file is one document: remove the second ---)',
      ...positionOf(lineCounter, docs[1].range[0])
    })
  }
  // the first error is the cause; the ones after it are yaml losing its way in the rest of the file
  const errors = [...doc.errors, ...doc.warnings].map(e => ({ message: e.message, offset: e.pos[0], hint: HINTS[e.code] }))
  problems.push(...firstCause(errors, body, offset => positionOf(lineCounter, offset)))
  for (const duplicate of duplicateKeys(doc)) {
    problems.push({ path: formatPath(duplicate.segments), message: DUPLICATE_KEY, ...positionOf(lineCounter, duplicate.offset) })
  }
  return problems.length > 0 ? { problems } : { doc, lineCounter }
}

function parseJson (body: string): { value: unknown } | { message: string, offset?: number } {
  try {
    return { value: JSON.parse(body) }
  } catch (err) {
    const message = (err as Error).message
    const position = /at position (\d+)/.exec(message)
    return { message, offset: position === null ? undefined : Number(position[1]) }
  }
}

/**
 * Text that JSON.parse refused in a file named .json. V8's messages do not
 * always say where, so yaml's errors (which do) are used when yaml refuses it
 * too; yaml is laxer (`tru` is text to it), and then V8's message stands.
 */
function invalidJson (body: string, json: { message: string, offset?: number }): ParseResult {
  const yaml = parseYaml(body)
  if ('problems' in yaml) return { problems: yaml.problems.map((p) => ({ ...p, message: `not valid JSON: ${p.message}` })) }
  const message = `not valid JSON: ${json.message.replace(/\s+/g, ' ')}`
  return fail(message, json.offset === undefined ? undefined : positionInText(body, json.offset))
}

/**
 * Valid JSON. yaml reads it too, to locate problems and to catch repeated keys,
 * which JSON.parse silently lets the last one win; when yaml disagrees with
 * valid JSON (keys over 1024 characters, a key and its colon on two lines),
 * JSON wins and problems go without a line.
 */
function fromJson (body: string, value: unknown): ParseResult {
  const yaml = parseYaml(body)
  if ('problems' in yaml) {
    const duplicates = yaml.problems.filter((p) => p.message === DUPLICATE_KEY)
    if (duplicates.length > 0) return { problems: duplicates }
    return check(value)
  }
  return check(value, yaml.doc, yaml.lineCounter)
}

function check (value: unknown, doc?: Document, lineCounter?: LineCounter): ParseResult {
  const locate = (segments: PathSegment[]): Partial<Problem> => {
    if (doc === undefined || lineCounter === undefined) return {}
    const offset = offsetOf(doc, segments)
    return offset === undefined ? {} : positionOf(lineCounter, offset)
  }
  const deep = valueDepthProblem(value)
  if (deep !== undefined) return { problems: [{ path: formatPath(deep.segments), message: deep.message, ...locate(deep.segments) }] }
  const ck = new Checker()
  const spec = checkJobSpec(ck, value)
  const problems = byLine(ck.found.map((p: FoundProblem) => ({ path: formatPath(p.segments), message: p.message, ...locate(p.segments) })))
  if (ck.dropped > 0) problems.push(droppedProblem(ck.dropped))
  return spec === undefined || problems.length > 0 ? { problems } : { spec, problems: [] }
}

/** in the order of the file: by line, then column; problems without a place after, as found */
function byLine (problems: Problem[]): Problem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || (a.p.column ?? 0) - (b.p.column ?? 0) || a.i - b.i)
    .map(x => x.p)
}

function fail (message: string, position?: { line: number, column: number }): ParseResult {
  return { problems: [{ path: '', message, ...position }] }
}
