import { readFile } from 'node:fs/promises'
import { InvalidInputError } from '../errors.js'
import { LOG_LEVELS } from '../logger.js'
import { nearestName } from '../../protocols/job/values.js'
import type { LogLevel } from '../logger.js'
import { MAX_SANDBOX_PATHS } from '../executor/sandbox/constants.js'
import { sandboxPathProblem } from '../executor/sandbox/mounts.js'
import type { Limits } from '../executor/types.js'
import { validateHttpConfig } from '../http/config.js'
import type { HttpConfig } from '../http/config.js'
import { checkNotifyConfig } from '../triggers/notify-config.js'
import type { NotifyRule } from '../triggers/notify-config.js'
import { checkExportConfig } from '../triggers/export.js'
import type { ExportConfig } from '../triggers/export.js'

/** The daemon's settings, from `config.json` in the home plus command-line flags. */
export interface NodeConfig {
  /** libp2p listen multiaddrs */
  listen: string[]
  /** labels this node offers to jobs' `requires.labels` */
  labels: string[]
  /** jobs run at once; undefined = one per core */
  slots?: number
  /** executor limits; absent fields take the documented defaults */
  limits: Partial<Limits>
  logLevel: LogLevel
  /** disk quotas (bytes) and how many results per job name stay pinned */
  retention: { blobsBytes?: number, workspacesBytes?: number, keepResults?: number }
  /** admit jobs only while the one-minute load average per core is below this (the batch(1) rule) */
  loadLimit: number
  /** the HTTP face (pages, API, metrics): off unless `listen` is set; see node/http/config.ts */
  http: HttpConfig
  /** Nix jobs: off, or which store and substituters builds use (docs/nix.md) */
  nix?: NixConfig
  /** the job sandbox (docs/security.md): on unless turned off; host paths jobs may read, and more to hide */
  sandbox: SandboxConfig
  /** a node without a sandbox (isolation `none`) still runs other members' jobs; default false: only its own */
  allowUnisolated: boolean
  /** who hears of the results of the jobs submitted on this node (docs/triggers.md#notifications) */
  notify?: NotifyRule[]
  /** finished jobs shipped to Elasticsearch (docs/triggers.md#event-export) */
  export?: ExportConfig
}

/** `nix` in config.json */
export interface NixConfig {
  /** false: never offer the `nix` label nor build Nix jobs, even with Nix installed */
  enabled?: boolean
  /** `auto` (through the Nix daemon when its socket answers), `daemon` or `local` */
  store?: 'auto' | 'daemon' | 'local'
  /** substituters builds may use; default none, so nothing comes from outside the mesh */
  substituters?: string[]
}

/** `sandbox` in config.json */
export interface SandboxConfig {
  /** false: jobs run as the daemon's user, unsandboxed (isolation `none`) */
  enabled: boolean
  /** host paths jobs may read, even inside a hidden place (the daemon user's home); never the node's home */
  readOnlyPaths: string[]
  /** host paths jobs must not see, beyond the node's home and the daemon user's home */
  hiddenPaths: string[]
}

/** default admission threshold: load average per core */
export const DEFAULT_LOAD_LIMIT = 2

export const DEFAULT_CONFIG: NodeConfig = {
  listen: [],
  labels: [],
  limits: {},
  logLevel: 'info',
  loadLimit: DEFAULT_LOAD_LIMIT,
  retention: {},
  http: {},
  sandbox: { enabled: true, readOnlyPaths: [], hiddenPaths: [] },
  allowUnisolated: false
}

/** DEFAULT_CONFIG with objects of its own (a config is changed in place while it is read) */
function defaults (): NodeConfig {
  return { ...DEFAULT_CONFIG, limits: {}, retention: {}, http: {}, sandbox: { ...DEFAULT_CONFIG.sandbox, readOnlyPaths: [], hiddenPaths: [] } }
}

const SANDBOX_KEYS = ['enabled', 'readOnlyPaths', 'hiddenPaths']

function checkSandbox (raw: unknown, cfg: NodeConfig, problems: Array<{ path: string, message: string }>): void {
  if (typeof raw !== 'object' || raw == null || Array.isArray(raw)) {
    problems.push({ path: 'sandbox', message: 'must be an object' })
    return
  }
  for (const [k, v] of Object.entries(raw)) {
    if (!SANDBOX_KEYS.includes(k)) {
      problems.push({ path: `sandbox.${k}`, message: unknownField(k, SANDBOX_KEYS) })
    } else if (k === 'enabled') {
      if (typeof v !== 'boolean') problems.push({ path: 'sandbox.enabled', message: 'must be true or false' })
      else cfg.sandbox.enabled = v
    } else if (!Array.isArray(v)) {
      problems.push({ path: `sandbox.${k}`, message: 'must be a list of absolute paths' })
    } else if (v.length > MAX_SANDBOX_PATHS) {
      problems.push({ path: `sandbox.${k}`, message: `at most ${MAX_SANDBOX_PATHS} paths` })
    } else {
      const bad = v.map((p, i) => [i, sandboxPathProblem(p)] as const).filter(([, m]) => m !== undefined)
      for (const [i, message] of bad) problems.push({ path: `sandbox.${k}[${i}]`, message: message! })
      if (bad.length === 0) cfg.sandbox[k as 'readOnlyPaths' | 'hiddenPaths'] = [...new Set(v as string[])]
    }
  }
}

const LIMIT_KEYS = ['maxProcesses', 'maxOutputBytes', 'maxFileBytes', 'maxMemoryBytes'] as const
const CONFIG_FIELDS: readonly string[] = ['listen', 'labels', 'slots', 'limits', 'logLevel', 'loadLimit', 'retention', 'http', 'nix', 'sandbox', 'allowUnisolated', 'notify', 'export']
const RETENTION_FIELDS: readonly string[] = ['blobsBytes', 'workspacesBytes', 'keepResults']

/** "unknown field", with the field most likely meant (`slotz` → `slots`) */
function unknownField (key: string, known: readonly string[]): string {
  const near = nearestName(key, known)
  return near === undefined ? 'unknown field' : `unknown field (did you mean "${near}"?)`
}
const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Check a parsed config object; every problem is named by its dotted path. */
export function validateConfig (raw: unknown): NodeConfig {
  const problems: Array<{ path: string, message: string }> = []
  if (typeof raw !== 'object' || raw == null || Array.isArray(raw)) {
    throw new InvalidInputError('config: must be an object', [{ path: '', message: 'must be an object' }])
  }
  const r = raw as Record<string, unknown>
  const cfg = defaults()
  for (const key of Object.keys(r)) {
    if (!CONFIG_FIELDS.includes(key)) problems.push({ path: key, message: unknownField(key, CONFIG_FIELDS) })
  }
  if (r.sandbox !== undefined) checkSandbox(r.sandbox, cfg, problems)
  if (r.allowUnisolated !== undefined) {
    if (typeof r.allowUnisolated !== 'boolean') problems.push({ path: 'allowUnisolated', message: 'must be true or false' })
    else cfg.allowUnisolated = r.allowUnisolated
  }
  for (const key of ['listen', 'labels'] as const) {
    const v = r[key]
    if (v === undefined) continue
    if (!Array.isArray(v) || !v.every(x => typeof x === 'string')) problems.push({ path: key, message: 'must be a list of strings' })
    else cfg[key] = v
  }
  cfg.labels.forEach((l, i) => { if (!LABEL_RE.test(l)) problems.push({ path: `labels[${i}]`, message: 'must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit' }) })
  if (r.slots !== undefined) {
    if (!Number.isInteger(r.slots) || (r.slots as number) < 1 || (r.slots as number) > 1024) problems.push({ path: 'slots', message: 'must be a whole number from 1 to 1024' })
    else cfg.slots = r.slots as number
  }
  if (r.retention !== undefined) {
    if (typeof r.retention !== 'object' || r.retention == null || Array.isArray(r.retention)) {
      problems.push({ path: 'retention', message: 'must be an object' })
    } else {
      for (const [k, v] of Object.entries(r.retention)) {
        if (!RETENTION_FIELDS.includes(k)) problems.push({ path: `retention.${k}`, message: unknownField(k, RETENTION_FIELDS) })
        else if (!Number.isSafeInteger(v) || (v as number) < 0) problems.push({ path: `retention.${k}`, message: 'must be a whole number ≥ 0' })
        else (cfg.retention as Record<string, number>)[k] = v as number
      }
    }
  }
  if (r.loadLimit !== undefined) {
    if (typeof r.loadLimit !== 'number' || !Number.isFinite(r.loadLimit) || r.loadLimit < 0) problems.push({ path: 'loadLimit', message: 'must be a number ≥ 0 (load average per core)' })
    else cfg.loadLimit = r.loadLimit
  }
  if (r.logLevel !== undefined) {
    if (!LOG_LEVELS.includes(r.logLevel as LogLevel)) problems.push({ path: 'logLevel', message: `must be one of ${LOG_LEVELS.join(', ')}` })
    else cfg.logLevel = r.logLevel as LogLevel
  }
  if (r.limits !== undefined) {
    if (typeof r.limits !== 'object' || r.limits == null || Array.isArray(r.limits)) {
      problems.push({ path: 'limits', message: 'must be an object' })
    } else {
      for (const [k, v] of Object.entries(r.limits)) {
        if (!(LIMIT_KEYS as readonly string[]).includes(k)) problems.push({ path: `limits.${k}`, message: unknownField(k, LIMIT_KEYS) })
        else if (!Number.isSafeInteger(v) || (v as number) < 1) problems.push({ path: `limits.${k}`, message: 'must be a whole number ≥ 1' })
        else cfg.limits[k as keyof Limits] = v as number
      }
    }
  }
  if (r.http !== undefined) cfg.http = validateHttpConfig(r.http, problems)
  if (r.nix !== undefined) cfg.nix = checkNixConfig(r.nix, problems)
  if (r.notify !== undefined) cfg.notify = checkNotifyConfig(r.notify, problems)
  if (r.export !== undefined) cfg.export = checkExportConfig(r.export, problems)
  if (problems.length > 0) {
    throw new InvalidInputError(`config: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`, problems)
  }
  return cfg
}

function checkNixConfig (raw: unknown, problems: Array<{ path: string, message: string }>): NixConfig | undefined {
  if (typeof raw !== 'object' || raw == null || Array.isArray(raw)) {
    problems.push({ path: 'nix', message: 'must be an object' })
    return undefined
  }
  const out: NixConfig = {}
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'enabled' && typeof v === 'boolean') out.enabled = v
    else if (k === 'store' && (v === 'auto' || v === 'daemon' || v === 'local')) out.store = v
    else if (k === 'substituters' && Array.isArray(v) && v.every(x => typeof x === 'string' && x !== '' && !/\s/.test(x))) out.substituters = v
    else if (!['enabled', 'store', 'substituters'].includes(k)) problems.push({ path: `nix.${k}`, message: unknownField(k, ['enabled', 'store', 'substituters']) })
    else problems.push({ path: `nix.${k}`, message: k === 'enabled' ? 'must be true or false' : k === 'store' ? 'must be auto, daemon or local' : 'must be a list of URLs' })
  }
  return out
}

/** Read `config.json` (absent = defaults). */
export async function loadConfig (path: string): Promise<NodeConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err: any) {
    if (err?.code === 'ENOENT') return defaults()
    throw err
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err: any) {
    throw new InvalidInputError(`${path}: not valid JSON (${String(err?.message)})`)
  }
  return validateConfig(raw)
}
