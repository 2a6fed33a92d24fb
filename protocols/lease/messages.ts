import { isRecord } from '../codec/cbor.js'
import { open } from '../codec/envelope.js'
import { LEASE_GRANT, LEASE_REPLY, LEASE_REQUEST, LEASE_VOTE, MAX_BATCH_ITEMS, MAX_EPOCH, MAX_LEASE_MESSAGE_BYTES, MAX_LEASE_TTL_MS, MAX_REASON_CHARS } from './constants.js'
import { InvalidLeaseMessageError } from './errors.js'
import type { Signed } from '../codec/envelope.js'

/** one (job, epoch) of a renewal or release */
export interface LeaseItem { job: string, epoch: number }

/** what every lease message carries: the mesh it is for and when it was signed (signer's clock) */
interface Base { mesh: string, at: number }

/** claimant → acceptor: grant me `job` at `epoch` for `ttl` ms */
export interface ClaimRequest extends Base {
  rid: number
  op: 'claim'
  job: string
  epoch: number
  ttl: number
  /** an acceptor's signed word (a grant or refusal) that the job reached `epoch - 1`: lets a lagging acceptor skip ahead */
  proof?: Uint8Array
  /** the job's signed announcement, for an acceptor that has not heard of the job yet */
  ann?: Uint8Array
}

/** holder → acceptor: these leases are still mine (renew) / I give them up (release) */
export interface BatchRequest extends Base {
  rid: number
  op: 'renew' | 'release'
  items: LeaseItem[]
}

/**
 * holder of `epoch` → acceptor: decide that the job's result is `holder`'s run with `outcome`
 * (sha256 hex of the result). Usually `holder` is the sender itself; a claimant that found a
 * result an acceptor had already accepted proposes that one instead (`content` carries it).
 */
export interface FinishRequest extends Base {
  rid: number
  op: 'finish'
  job: string
  epoch: number
  holder: string
  outcome: string
  /** the result itself (the CBOR the outcome hashes), kept by the acceptor with its vote */
  content?: Uint8Array
}

/** a result an acceptor accepted at ballot `epoch`: `holder`'s run with `outcome` */
export interface Accepted { epoch: number, holder: string, outcome: string }

export type LeaseRequest = ClaimRequest | BatchRequest | FinishRequest

/** acceptor → claimant, signed by the acceptor: `holder` holds `job` at `epoch` (a share of a lease) */
export interface Grant extends Base {
  re: number
  job: string
  epoch: number
  holder: string
  ttl: number
  /** a result this acceptor accepted at an earlier epoch: the claimant must propose it rather than run the job */
  accepted?: Accepted
  /** that result's content */
  content?: Uint8Array
}

/** acceptor → holder of `epoch`, signed by the acceptor: the job's result is `holder`'s run with `outcome` */
export interface Vote extends Base {
  re: number
  job: string
  epoch: number
  holder: string
  outcome: string
}

/** acceptor → requester: a refusal (claim, finish) or the per-item answers of a batch */
export interface Reply extends Base {
  re: number
  ok: boolean
  /** why a claim or finish was refused (a stable code, see LeaseRefusal) */
  reason?: string
  /** the job the refusal is about */
  job?: string
  /** the acceptor's epoch for the job and who holds it there */
  epoch?: number
  holder?: string
  /** how long the current holder's lease still runs at this acceptor */
  waitMs?: number
  /** for a batch: the items this acceptor no longer has for the sender */
  lost?: LeaseItem[]
}

/** why an acceptor refused (counted by reason) */
export type LeaseRefusal =
  | 'unknown-job' | 'not-acceptor' | 'not-builder' | 'wrong-mesh' | 'skew' | 'bad-epoch' | 'bad-proof'
  | 'stale' | 'held' | 'not-holder' | 'malformed' | 'busy'

const HEX64 = /^[0-9a-f]{64}$/
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{1,128}$/

export const isJobId = (v: unknown): v is string => typeof v === 'string' && HEX64.test(v)
export const isPeerId = (v: unknown): v is string => typeof v === 'string' && PEER_ID.test(v)
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const isEpoch = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_EPOCH
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

function fields (p: Record<string, unknown>, required: string[], optional: string[] = []): string | undefined {
  for (const k of Object.keys(p)) if (!required.includes(k) && !optional.includes(k)) return `unknown field ${k}`
  for (const k of required) if (p[k] === undefined) return `missing field ${k}`
  return undefined
}

function base (p: Record<string, unknown>): string | undefined {
  if (!isJobId(p.mesh)) return 'mesh is not a mesh id'
  if (!isTime(p.at)) return 'at is not a time'
  return undefined
}

function items (v: unknown): string | undefined {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_BATCH_ITEMS) return `items must be a list of 1..${MAX_BATCH_ITEMS}`
  for (const it of v) {
    if (!isRecord(it) || fields(it, ['job', 'epoch']) != null || !isJobId(it.job) || !isEpoch(it.epoch)) return 'an item is not { job, epoch }'
  }
  return undefined
}

/** the problem with a request payload, or undefined when it is well formed */
export function requestProblem (p: Record<string, unknown>): string | undefined {
  if (!isId(p.rid)) return 'rid is not a request id'
  const b = base(p)
  if (b != null) return b
  switch (p.op) {
    case 'claim':
      return fields(p, ['mesh', 'at', 'rid', 'op', 'job', 'epoch', 'ttl'], ['proof', 'ann']) ??
        (!isJobId(p.job) ? 'job is not a job id' : undefined) ??
        (!isEpoch(p.epoch) ? 'epoch is not an integer from 1 to MAX_EPOCH' : undefined) ??
        (!Number.isSafeInteger(p.ttl) || (p.ttl as number) < 1 || (p.ttl as number) > MAX_LEASE_TTL_MS ? 'ttl is out of range' : undefined) ??
        (p.proof !== undefined && !(p.proof instanceof Uint8Array) ? 'proof is not bytes' : undefined) ??
        (p.ann !== undefined && !(p.ann instanceof Uint8Array) ? 'ann is not bytes' : undefined)
    case 'renew': case 'release':
      return fields(p, ['mesh', 'at', 'rid', 'op', 'items']) ?? items(p.items)
    case 'finish':
      return fields(p, ['mesh', 'at', 'rid', 'op', 'job', 'epoch', 'holder', 'outcome'], ['content']) ??
        (!isJobId(p.job) ? 'job is not a job id' : undefined) ??
        (!isEpoch(p.epoch) ? 'epoch is not an integer from 1 to MAX_EPOCH' : undefined) ??
        (!isPeerId(p.holder) ? 'holder is not a peer id' : undefined) ??
        (!isJobId(p.outcome) ? 'outcome is not a sha256' : undefined) ??
        (p.content !== undefined && !(p.content instanceof Uint8Array) ? 'content is not bytes' : undefined)
    default:
      return 'op is unknown'
  }
}

function acceptedProblem (v: unknown): string | undefined {
  if (v === undefined) return undefined
  if (!isRecord(v) || fields(v, ['epoch', 'holder', 'outcome']) != null || !isEpoch(v.epoch) || !isPeerId(v.holder) || !isJobId(v.outcome)) return 'accepted is not { epoch, holder, outcome }'
  return undefined
}

function grantProblem (p: Record<string, unknown>): string | undefined {
  return fields(p, ['mesh', 'at', 're', 'job', 'epoch', 'holder', 'ttl'], ['accepted', 'content']) ?? base(p) ?? acceptedProblem(p.accepted) ??
    (p.content !== undefined && !(p.content instanceof Uint8Array) ? 'content is not bytes' : undefined) ??
    (!isId(p.re) ? 're is not a request id' : undefined) ??
    (!isJobId(p.job) ? 'job is not a job id' : undefined) ??
    (!isEpoch(p.epoch) ? 'epoch is not an integer from 1 to MAX_EPOCH' : undefined) ??
    (!isPeerId(p.holder) ? 'holder is not a peer id' : undefined) ??
    (!Number.isSafeInteger(p.ttl) || (p.ttl as number) < 1 || (p.ttl as number) > MAX_LEASE_TTL_MS ? 'ttl is out of range' : undefined)
}

function voteProblem (p: Record<string, unknown>): string | undefined {
  return fields(p, ['mesh', 'at', 're', 'job', 'epoch', 'holder', 'outcome']) ?? base(p) ??
    (!isId(p.re) ? 're is not a request id' : undefined) ??
    (!isJobId(p.job) ? 'job is not a job id' : undefined) ??
    (!isEpoch(p.epoch) ? 'epoch is not an integer from 1 to MAX_EPOCH' : undefined) ??
    (!isPeerId(p.holder) ? 'holder is not a peer id' : undefined) ??
    (!isJobId(p.outcome) ? 'outcome is not a sha256' : undefined)
}

function replyProblem (p: Record<string, unknown>): string | undefined {
  return fields(p, ['mesh', 'at', 're', 'ok'], ['reason', 'job', 'epoch', 'holder', 'waitMs', 'lost']) ?? base(p) ??
    (!isId(p.re) ? 're is not a request id' : undefined) ??
    (typeof p.ok !== 'boolean' ? 'ok is not a boolean' : undefined) ??
    (p.reason !== undefined && (typeof p.reason !== 'string' || p.reason.length > MAX_REASON_CHARS) ? 'reason is not a short string' : undefined) ??
    (p.job !== undefined && !isJobId(p.job) ? 'job is not a job id' : undefined) ??
    (p.epoch !== undefined && !(Number.isSafeInteger(p.epoch) && (p.epoch as number) >= 0) ? 'epoch is not an integer ≥ 0' : undefined) ??
    (p.holder !== undefined && !isPeerId(p.holder) ? 'holder is not a peer id' : undefined) ??
    (p.waitMs !== undefined && !isTime(p.waitMs) ? 'waitMs is not a duration' : undefined) ??
    (p.lost !== undefined ? items(p.lost) : undefined)
}

const CHECKS: Record<string, (p: Record<string, unknown>) => string | undefined> = {
  [LEASE_REQUEST]: requestProblem,
  [LEASE_GRANT]: grantProblem,
  [LEASE_VOTE]: voteProblem,
  [LEASE_REPLY]: replyProblem
}

/** a verified lease message of one of the four types */
export type LeaseMessage =
  | Signed<LeaseRequest> & { type: typeof LEASE_REQUEST }
  | Signed<Grant> & { type: typeof LEASE_GRANT }
  | Signed<Vote> & { type: typeof LEASE_VOTE }
  | Signed<Reply> & { type: typeof LEASE_REPLY }

/**
 * Verify and check a lease message: an envelope of one of the lease types whose signature
 * verifies over the received bytes and whose payload has exactly the fields of its type.
 * Throws ERR_INVALID_LEASE with a reason: `too-large`, `bad-signature`, `malformed`.
 */
export function openLeaseMessage (bytes: Uint8Array, expectType?: string): LeaseMessage {
  let signed: Signed<unknown>
  try {
    signed = open(bytes, { maxBytes: MAX_LEASE_MESSAGE_BYTES, expectType })
  } catch (err) {
    const code = (err as { code?: string }).code
    const reason = code === 'ERR_BAD_SIGNATURE' ? 'bad-signature' : code === 'ERR_TOO_LARGE' ? 'too-large' : 'malformed'
    throw new InvalidLeaseMessageError(reason, err instanceof Error ? err.message : 'not an envelope', { cause: err })
  }
  const check = CHECKS[signed.type]
  if (check == null) throw new InvalidLeaseMessageError('malformed', `${signed.type} is not a lease message`)
  if (!isRecord(signed.payload)) throw new InvalidLeaseMessageError('malformed', 'payload is not a map')
  const problem = check(signed.payload)
  if (problem != null) throw new InvalidLeaseMessageError('malformed', problem)
  return signed as LeaseMessage
}
