/**
 * The value syntaxes of job files: durations, sizes, titles made from commands
 * and the dotted paths that name fields in problems.
 */
import { SHORTHAND_TITLE_LENGTH } from './constants.js'

const DURATION_UNITS_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const
// units in falling order, each at most once: 1h30m, 2h, 90s, 1d12h
const DURATION_PATTERN = /^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/
const PLAIN_NUMBER_PATTERN = /^\d+(?:\.\d+)?$/

/**
 * A duration in milliseconds, or undefined when `value` is not one.
 * Accepts `90s`, `20m`, `2h`, `1h30m`, `1d`, decimals (`1.5h`) and a plain
 * number of seconds (`90`, or the string `"90"`). Range checks are the caller's.
 */
export function parseDuration (value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined
  }
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  if (PLAIN_NUMBER_PATTERN.test(text)) return Math.round(Number(text) * 1000)
  const match = text === '' ? null : DURATION_PATTERN.exec(text)
  if (match === null) return undefined
  const [, d, h, m, s] = match
  let ms = 0
  for (const [amount, unit] of [[d, 'd'], [h, 'h'], [m, 'm'], [s, 's']] as const) {
    if (amount !== undefined) ms += Number(amount) * DURATION_UNITS_MS[unit]
  }
  return Math.round(ms)
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }
// 512M, 2G, 1.5G, 1024K, 2GiB, 2GB, 100B, 4096: the unit letter is case-blind, units are binary
const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|(b))?$/i

/**
 * A size in bytes, or undefined when `value` is not one. Units are binary
 * (K = 1024); `GB` and `GiB` both mean 1024³. A plain number is bytes and must
 * be a whole number. Range checks are the caller's.
 */
export function parseSize (value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  if (typeof value !== 'string') return undefined
  const match = SIZE_PATTERN.exec(value.trim())
  if (match === null) return undefined
  const [, amount, unitLetter, byteLetter] = match
  const unit = (unitLetter ?? byteLetter ?? '').toLowerCase()
  if (unit === '' || unit === 'b') {
    // a fraction of a byte is a typo, not a size
    return PLAIN_NUMBER_PATTERN.test(amount) && !amount.includes('.') ? Number(amount) : undefined
  }
  const bytes = Math.round(Number(amount) * SIZE_UNITS[unit])
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

// C0 controls and DEL: they would garble a terminal when a title is printed
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/

/**
 * The title of a step given only as a command: its first non-blank line,
 * whitespace collapsed, cut to SHORTHAND_TITLE_LENGTH characters with `…`.
 */
export function titleFromCommand (command: string): string {
  const line = command.split('\n').find((l) => l.trim() !== '') ?? command
  const flat = line.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim()
  // a command of nothing but control characters still needs a printable title
  if (flat === '') return 'step'
  const chars = Array.from(flat)
  if (chars.length <= SHORTHAND_TITLE_LENGTH) return flat
  return chars.slice(0, SHORTHAND_TITLE_LENGTH - 1).join('') + '…'
}

/** a path through a value: keys of mappings and indexes of lists */
export type PathSegment = string | number

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** `['stages', 1, 'steps', 0, 'command']` → `stages[1].steps[0].command`; odd keys are quoted: `params["a b"]` */
export function formatPath (segments: readonly PathSegment[]): string {
  let out = ''
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

/** edits (insert, delete, replace, swap two neighbours) between two short strings: `slotz`→`slots` is 1, `wiat`→`wait` 1 */
function typoDistance (a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/**
 * The known name a person most likely meant by `given` (a typo, other case, or the start of
 * it), for "did you mean" hints on fields, flags and commands; undefined when none is close.
 */
export function nearestName (given: string, names: readonly string[]): string | undefined {
  const lower = given.toLowerCase()
  const same = names.find(n => n.toLowerCase() === lower)
  if (same !== undefined) return same
  if (given.length >= 3) {
    const started = names.filter(n => n.toLowerCase().startsWith(lower))
    if (started.length === 1) return started[0]
  }
  let best: string | undefined
  let bestDistance = Infinity
  for (const name of names) {
    // a long name cannot be near, and its distance would be costly
    if (Math.abs(name.length - given.length) > 2) continue
    const d = typoDistance(lower, name.toLowerCase())
    if (d < bestDistance && d <= (name.length > 4 ? 2 : 1)) { best = name; bestDistance = d }
  }
  return best
}

/** Levenshtein distance, for "did you mean" hints on unknown field names (short strings only) */
export function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    }
    previous = current
  }
  return previous[b.length]
}
