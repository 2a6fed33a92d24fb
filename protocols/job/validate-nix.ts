/**
 * Validation of a Nix job's `nix` field: the derivation to realise and the hash of its exported
 * closure. The derivation path goes into a `nix-store` command line on every builder, so it must
 * be a plain store path: no `..`, no options, no characters a store path cannot hold.
 */
import { checkKnownFields, checkMapping, field, kindOf } from './check.js'
import type { Checker } from './check.js'
import type { NixSpec, RebuildSpec } from './types.js'
import type { PathSegment } from './values.js'

const NIX_FIELDS: readonly string[] = ['drv', 'closure']
const HEX64 = /^[0-9a-f]{64}$/

/** a store path's directory part: absolute, plain segments */
const STORE_DIR = /^(\/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)+$/
/** a store path's base name: 32 characters of Nix's base32, a dash, a name (at most 211 characters) */
const STORE_BASE = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,211}$/
const MAX_STORE_PATH_LENGTH = 1024

/** true for a path of a Nix store object (`/nix/store/<hash>-<name>`) in a plain store directory */
export function isStorePath (value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_STORE_PATH_LENGTH) return false
  const slash = value.lastIndexOf('/')
  if (slash <= 0) return false
  const dir = value.slice(0, slash)
  const base = value.slice(slash + 1)
  return STORE_DIR.test(dir) && !dir.split('/').includes('..') && STORE_BASE.test(base) && !base.startsWith('.')
}

/** true for the store path of a derivation */
export function isDerivationPath (value: unknown): value is string {
  return isStorePath(value) && value.endsWith('.drv')
}

/** `nix`: `{ drv, closure }`, each checked */
export function checkNix (ck: Checker, value: unknown, segments: PathSegment[]): NixSpec | undefined {
  const obj = checkMapping(ck, value, segments)
  if (obj === undefined) return undefined
  checkKnownFields(ck, obj, segments, NIX_FIELDS)
  const drv = field(obj, 'drv')
  const closure = field(obj, 'closure')
  let ok = true
  if (!isDerivationPath(drv)) {
    ck.add([...segments, 'drv'], typeof drv === 'string'
      ? 'must be the store path of a derivation (/nix/store/<hash>-<name>.drv)'
      : `required: the store path of a derivation${drv === undefined ? '' : `, not ${kindOf(drv)}`}`)
    ok = false
  }
  if (typeof closure !== 'string' || !HEX64.test(closure)) {
    ck.add([...segments, 'closure'], 'must be the sha256 (64 lowercase hex digits) of the exported closure')
    ok = false
  }
  return ok ? { drv: drv as string, closure: closure as string } : undefined
}

const REBUILD_FIELDS: readonly string[] = ['of', 'statement', 'builder']
const KEY_ID = /^[1-9A-HJ-NP-Za-km-z]{1,128}$/

/** `rebuild`: `{ of, statement, builder }` (a job id, a statement hash, a key id) */
export function checkRebuild (ck: Checker, value: unknown, segments: PathSegment[]): RebuildSpec | undefined {
  const obj = checkMapping(ck, value, segments)
  if (obj === undefined) return undefined
  checkKnownFields(ck, obj, segments, REBUILD_FIELDS)
  const of = field(obj, 'of')
  const statement = field(obj, 'statement')
  const builder = field(obj, 'builder')
  let ok = true
  if (typeof of !== 'string' || !HEX64.test(of)) { ck.add([...segments, 'of'], 'must be the id of the job rebuilt'); ok = false }
  if (typeof statement !== 'string' || !HEX64.test(statement)) { ck.add([...segments, 'statement'], 'must be the sha256 of its statement'); ok = false }
  if (typeof builder !== 'string' || !KEY_ID.test(builder)) { ck.add([...segments, 'builder'], 'must be the key id of its builder'); ok = false }
  return ok ? { of: of as string, statement: statement as string, builder: builder as string } : undefined
}
