/**
 * What to tell a person whose job file YAML could not read. A command written plainly that holds
 * a character YAML gives a meaning to (`: `, ` #`, `{`, `[`, a leading `&`, `*`, `!`, `|`, `>`,
 * `%`, `@` or a backquote) breaks the file, and yaml then reports the rest of the file as a
 * cascade of errors that each make no sense on their own. The first error is the real cause:
 * it is reported with its line, what to write instead (the same command quoted whole), and how
 * many errors came after it (left out: they rarely mean anything until it is fixed).
 */
import type { Problem } from './types.js'

/** characters that make a plain YAML value mean something else */
const SPECIAL_INSIDE = /: |\s#|[{}[\],]/
const SPECIAL_START = /^[{[&*!|>%@`'"]/

/** the part of a line that is a value: after `- ` or `key: `, as written */
const VALUE_LINE = /^(\s*(?:-\s+)?(?:[A-Za-z_][A-Za-z0-9_]*:\s+)?)(.*)$/

/** `text` as a single-quoted YAML scalar (a quote inside is doubled) */
export function singleQuoted (text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/**
 * The line as it should be written, its value quoted whole; undefined when the line does not
 * hold a plain value with a special character (a quoted one, a block scalar, a flow mapping of
 * several fields: those want more than quotes).
 */
export function quotedLine (line: string): string | undefined {
  const m = VALUE_LINE.exec(line)
  if (m == null) return undefined
  const [, lead, rawValue] = m
  const value = rawValue.trimEnd()
  if (value === '' || value.startsWith("'") || value.startsWith('"') || /^[|>][-+0-9]*$/.test(value)) return undefined
  // `- { title: x, command: … }`: a flow mapping whose command needs quotes inside it
  if (/^\{.*\b[A-Za-z]+:\s/.test(value)) return undefined
  if (!SPECIAL_INSIDE.test(value) && !SPECIAL_START.test(value)) return undefined
  return `${lead}${singleQuoted(value)}`.trim()
}

/** why a line with a special character fails, and what to write instead */
export function quoteAdvice (line: string): string {
  const fixed = quotedLine(line)
  if (fixed !== undefined) return ` (a command with ": ", " #", "{", "[" or "," must be quoted whole: write ${fixed})`
  if (/\{.*\b(command|title|onStart|onSuccess|onFailure):\s/.test(line)) {
    return ' (inside { … }, a command with "{", "}", "[", "]", "," or ": " must be quoted: command: \'…\')'
  }
  return ''
}

/**
 * YAML's errors, reduced to their first cause: the earliest error, with the quoting advice for
 * its line and the number of errors after it; those are left out, they follow from it.
 */
export function firstCause (errors: Array<{ message: string, offset: number, hint?: string }>, text: string, position: (offset: number) => { line: number, column: number }): Problem[] {
  if (errors.length === 0) return []
  const sorted = [...errors].sort((a, b) => a.offset - b.offset)
  const first = sorted[0]
  const at = position(first.offset)
  const line = text.split('\n')[at.line - 1] ?? ''
  const advice = quoteAdvice(line) || (first.hint ?? '')
  const rest = sorted.slice(1)
  let more = ''
  if (rest.length > 0) {
    const lines = rest.map(e => position(e.offset).line)
    const from = Math.min(...lines)
    const to = Math.max(...lines)
    more = `; ${rest.length} more error${rest.length === 1 ? '' : 's'} after it (line${from === to ? ` ${from}` : `s ${from}–${to}`}), most often caused by this one: fix it and check again`
  }
  return [{ path: '', message: `${first.message}${advice}${more}`, ...at }]
}
