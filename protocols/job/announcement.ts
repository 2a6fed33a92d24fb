import { isRecord } from '../codec/index.js'
import { MAX_EPOCH } from '../lease/constants.js'
import { ARTEFACT_MODE_MASK, EVENT_TYPES, JOB_STATES } from './records.js'
import { validateJobSpec } from './validate.js'
import { isDerivationPath, isStorePath } from './validate-nix.js'
import { buildProblem, sourceProblem } from './source.js'
import type { EventType, JobAnnouncement, JobEvent, JobResult, JobState } from './records.js'

/** limits on what a peer's announcement or event may carry */
export const MAX_PARAM_VALUE_CHARS = 16 * 1024
export const MAX_REASON_CHARS = 2000
export const MAX_ARTEFACTS = 10_000
export const MAX_ARTEFACT_PATH_CHARS = 4096
export const MAX_NODE_ID_CHARS = 128
/** most acceptors a job may name (5 from 7 builders on) */
export const MAX_ACCEPTORS = 5
/** largest acceptor signature in an event's certificate (a grant may carry an adopted result) */
export const MAX_CERT_ITEM_BYTES = 64 * 1024

const HEX64 = /^[0-9a-f]{64}$/

function isTime (v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0
}

function isNodeId (v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NODE_ID_CHARS && /^[1-9A-HJ-NP-Za-km-z]+$/.test(v)
}

/**
 * Check the payload of a `job` envelope from anywhere. Returns the announcement with its spec
 * normalised, or the first problem found (a stable, short reason for the drop counters).
 */
export function validateAnnouncement (raw: unknown): { value?: JobAnnouncement, problem?: string } {
  if (!isRecord(raw)) return { problem: 'announcement is not a map' }
  const keys = Object.keys(raw)
  if (keys.some(k => !['spec', 'params', 'priority', 'submittedAt', 'node', 'nonce', 'acceptors', 'trust', 'runOn', 'mesh', 'source', 'build'].includes(k))) return { problem: 'announcement has unknown fields' }
  if (raw.mesh !== undefined && (typeof raw.mesh !== 'string' || !HEX64.test(raw.mesh))) return { problem: 'mesh is not a mesh id' }
  const { spec, problems } = validateJobSpec(raw.spec)
  if (spec == null || problems.length > 0) return { problem: `invalid spec: ${problems[0]?.path ?? ''} ${problems[0]?.message ?? ''}`.trim() }
  if (!isRecord(raw.params)) return { problem: 'params is not a map' }
  for (const [k, v] of Object.entries(raw.params)) {
    if (!(k in spec.params)) return { problem: `param ${k} is not declared by the spec` }
    if (typeof v !== 'string' || v.length > MAX_PARAM_VALUE_CHARS) return { problem: `param ${k} is not a string within the limit` }
  }
  if (!Number.isSafeInteger(raw.priority)) return { problem: 'priority is not a whole number' }
  if (!isTime(raw.submittedAt)) return { problem: 'submittedAt is not a time' }
  if (!isNodeId(raw.node)) return { problem: 'node is not a peer id' }
  if (typeof raw.nonce !== 'string' || !/^[0-9a-f]{8,64}$/.test(raw.nonce)) return { problem: 'nonce is not hex' }
  if (raw.acceptors !== undefined) {
    const a = raw.acceptors
    if (!Array.isArray(a) || a.length === 0 || a.length > MAX_ACCEPTORS || !a.every(isNodeId) || new Set(a).size !== a.length) return { problem: `acceptors is not a list of 1..${MAX_ACCEPTORS} distinct peer ids` }
    if (typeof raw.trust !== 'string' || !/^[0-9a-f]{32}$/.test(raw.trust)) return { problem: 'trust is not a builder-set digest' }
  } else if (raw.trust !== undefined) {
    return { problem: 'trust without acceptors' }
  }
  if (raw.runOn !== undefined && !isNodeId(raw.runOn)) return { problem: 'runOn is not a peer id' }
  const extra = raw.source !== undefined ? sourceProblem(raw.source) : undefined
  if (extra != null) return { problem: extra }
  if (raw.build !== undefined && buildProblem(raw.build) != null) return { problem: buildProblem(raw.build) }
  const value: JobAnnouncement = { spec, params: raw.params as Record<string, string>, priority: raw.priority as number, submittedAt: raw.submittedAt, node: raw.node, nonce: raw.nonce }
  if (raw.acceptors !== undefined) {
    value.acceptors = raw.acceptors as string[]
    value.trust = raw.trust as string
  }
  if (raw.runOn !== undefined) value.runOn = raw.runOn as string
  if (raw.mesh !== undefined) value.mesh = raw.mesh as string
  if (raw.source !== undefined) value.source = raw.source as JobAnnouncement['source']
  if (raw.build !== undefined) value.build = raw.build as number
  return { value }
}

function validateResult (raw: unknown): string | undefined {
  if (!isRecord(raw)) return 'result is not a map'
  if (!['succeeded', 'failed', 'timed-out', 'cancelled'].includes(raw.state as string)) return 'result state is not final'
  if (raw.exitCode !== null && !Number.isSafeInteger(raw.exitCode)) return 'result exitCode is not a whole number or null'
  if (raw.reason !== undefined && (typeof raw.reason !== 'string' || raw.reason.length > MAX_REASON_CHARS)) return 'result reason is too long'
  const u = raw.usage
  if (!isRecord(u) || !['wallMs', 'cpuMs', 'maxRssBytes'].every(k => typeof u[k] === 'number' && (u[k] as number) >= 0)) return 'result usage is malformed'
  if (typeof raw.log !== 'string' || !HEX64.test(raw.log)) return 'result log is not a sha256'
  if (raw.cacheHit !== undefined && typeof raw.cacheHit !== 'boolean') return 'result cacheHit is not a boolean'
  if (raw.cachedFrom !== undefined && (typeof raw.cachedFrom !== 'string' || !HEX64.test(raw.cachedFrom))) return 'result cachedFrom is not a job id'
  if (!Array.isArray(raw.artefacts) || raw.artefacts.length > MAX_ARTEFACTS) return 'result artefacts is not a list within the limit'
  for (const a of raw.artefacts) {
    if (!isRecord(a) || typeof a.path !== 'string' || a.path.length === 0 || a.path.length > MAX_ARTEFACT_PATH_CHARS) return 'artefact path is malformed'
    if (a.path.startsWith('/') || a.path.split('/').includes('..')) return 'artefact path leaves the workspace'
    if (typeof a.sha256 !== 'string' || !HEX64.test(a.sha256)) return 'artefact sha256 is malformed'
    if (!Number.isSafeInteger(a.size) || (a.size as number) < 0) return 'artefact size is malformed'
    if (a.mode !== undefined && (!Number.isSafeInteger(a.mode) || ((a.mode as number) & ~ARTEFACT_MODE_MASK) !== 0 || (a.mode as number) < 0)) return 'artefact mode is not permission bits'
  }
  if (raw.provenance !== undefined && (typeof raw.provenance !== 'string' || !HEX64.test(raw.provenance))) return 'result provenance is not a sha256'
  if (raw.nix !== undefined) {
    const p = validateNixResult(raw.nix)
    if (p != null) return p
  }
  if (raw.rebuild !== undefined) {
    const p = validateRebuild(raw.rebuild)
    if (p != null) return p
  }
  return undefined
}

export const MAX_NIX_OUTPUTS = 64
const NAR_HASH = /^sha256:[0-9a-df-np-sv-z]{52}$/
const OUTPUT_NAME = /^[A-Za-z0-9+\-._?=]{1,64}$/
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

function validateNixResult (raw: unknown): string | undefined {
  if (!isRecord(raw) || Object.keys(raw).some(k => !['drv', 'outputs'].includes(k))) return 'result nix is malformed'
  if (!isDerivationPath(raw.drv)) return 'result nix drv is not a derivation path'
  if (!Array.isArray(raw.outputs) || raw.outputs.length > MAX_NIX_OUTPUTS) return 'result nix outputs is not a list within the limit'
  for (const o of raw.outputs) {
    if (!isRecord(o) || Object.keys(o).some(k => !['name', 'path', 'narHash', 'closure'].includes(k))) return 'nix output is malformed'
    if (typeof o.name !== 'string' || !OUTPUT_NAME.test(o.name)) return 'nix output name is malformed'
    if (!isStorePath(o.path)) return 'nix output path is not a store path'
    if (typeof o.narHash !== 'string' || !NAR_HASH.test(o.narHash)) return 'nix output narHash is malformed'
    if (typeof o.closure !== 'string' || !HEX64.test(o.closure)) return 'nix output closure is not a sha256'
  }
  return undefined
}

function validateRebuild (raw: unknown): string | undefined {
  if (!isRecord(raw) || Object.keys(raw).some(k => !['of', 'statement', 'matched', 'mismatches', 'sig'].includes(k))) return 'result rebuild is malformed'
  if (typeof raw.of !== 'string' || !HEX64.test(raw.of)) return 'result rebuild of is not a job id'
  if (typeof raw.statement !== 'string' || !HEX64.test(raw.statement)) return 'result rebuild statement is not a sha256'
  if (typeof raw.matched !== 'boolean') return 'result rebuild matched is not a boolean'
  if (!Array.isArray(raw.mismatches) || raw.mismatches.length > MAX_ARTEFACTS || raw.mismatches.some(m => typeof m !== 'string' || m.length > MAX_ARTEFACT_PATH_CHARS)) return 'result rebuild mismatches is malformed'
  if (raw.sig !== undefined && (typeof raw.sig !== 'string' || raw.sig.length > 128 || !BASE64.test(raw.sig))) return 'result rebuild sig is malformed'
  return undefined
}

/** Check the payload of an `event` envelope from anywhere. */
export function validateEvent (raw: unknown): { value?: JobEvent, problem?: string } {
  if (!isRecord(raw)) return { problem: 'event is not a map' }
  if (Object.keys(raw).some(k => !['job', 'type', 'node', 'at', 'state', 'reason', 'result', 'epoch', 'priority', 'cert', 'ran', 'mesh'].includes(k))) return { problem: 'event has unknown fields' }
  if (raw.mesh !== undefined && (typeof raw.mesh !== 'string' || !HEX64.test(raw.mesh))) return { problem: 'event mesh is not a mesh id' }
  if (raw.cert !== undefined && (!Array.isArray(raw.cert) || raw.cert.length === 0 || raw.cert.length > MAX_ACCEPTORS ||
    !raw.cert.every(c => c instanceof Uint8Array && c.byteLength <= MAX_CERT_ITEM_BYTES))) return { problem: 'event cert is not a list of acceptor signatures' }
  if (raw.ran !== undefined && ((raw.type !== 'finished' && raw.type !== 'failed') || !isNodeId(raw.ran))) return { problem: 'event ran is not a peer id of a finished run' }
  if (raw.epoch !== undefined && (!Number.isSafeInteger(raw.epoch) || (raw.epoch as number) < 0 || (raw.epoch as number) > MAX_EPOCH)) return { problem: 'event epoch is not a whole number up to MAX_EPOCH' }
  if (raw.priority !== undefined && !Number.isSafeInteger(raw.priority)) return { problem: 'event priority is not a whole number' }
  if (raw.type === 'reprioritized' && raw.priority === undefined) return { problem: 'a reprioritized event carries a priority' }
  if (typeof raw.job !== 'string' || !HEX64.test(raw.job)) return { problem: 'event job is not a job id' }
  if (!(EVENT_TYPES as readonly string[]).includes(raw.type as string)) return { problem: 'event type is unknown' }
  if (!isNodeId(raw.node)) return { problem: 'event node is not a peer id' }
  if (!isTime(raw.at)) return { problem: 'event at is not a time' }
  if (raw.state !== undefined && !(JOB_STATES as readonly string[]).includes(raw.state as string)) return { problem: 'event state is unknown' }
  if (raw.reason !== undefined && (typeof raw.reason !== 'string' || raw.reason.length > MAX_REASON_CHARS)) return { problem: 'event reason is too long' }
  if (raw.type === 'finished') {
    const p = validateResult(raw.result)
    if (p != null) return { problem: p }
    if (raw.state !== (raw.result as JobResult).state) return { problem: 'finished event state differs from its result' }
  } else if (raw.result !== undefined) {
    return { problem: 'only a finished event carries a result' }
  }
  return {
    value: {
      job: raw.job,
      type: raw.type as EventType,
      node: raw.node,
      at: raw.at,
      state: raw.state as JobState | undefined,
      reason: raw.reason as string | undefined,
      result: raw.result as JobResult | undefined,
      epoch: raw.epoch as number | undefined,
      priority: raw.priority as number | undefined,
      cert: raw.cert as Uint8Array[] | undefined,
      ran: raw.ran as string | undefined,
      ...(raw.mesh !== undefined ? { mesh: raw.mesh as string } : {})
    }
  }
}
