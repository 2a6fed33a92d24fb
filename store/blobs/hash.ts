import { InvalidHashError } from '../errors.js'
import { HASH_HEX_LENGTH, HASH_PREFIX } from './constants.js'

// anchored at both ends with no `m` flag, so surrounding whitespace or a second line never slips through
const HASH_RE = new RegExp(`^(?:${HASH_PREFIX})?([0-9a-f]{${HASH_HEX_LENGTH}})$`, 'i')

/**
 * The canonical form of a sha256 hash: 64 lowercase hex digits, exactly what `sha256sum` prints.
 * Accepts hex in any case, optionally prefixed `sha256:` (any case).
 *
 * @throws {InvalidHashError} ERR_INVALID_HASH for anything else (no trimming: callers trim user input)
 */
export function parseHash (input: string): string {
  const m = typeof input === 'string' ? HASH_RE.exec(input) : null
  if (m == null) throw new InvalidHashError(String(input))
  return m[1].toLowerCase()
}

/** whether `parseHash(s)` would accept `s` */
export function isHash (s: unknown): s is string {
  return typeof s === 'string' && HASH_RE.test(s)
}
