/**
 * The signed messages the simulated nodes exchange over gossip, made and checked by the real
 * protocol code: announcements (`job`), job events (`event`) and load reports (`load`) are sealed
 * envelopes in canonical CBOR, and a receiver checks them with the same functions as the daemon's
 * ingest (`open`, then validateAnnouncement / validateEvent / validateLoadReport). The Ed25519
 * check of a copy can be sampled (`verifyRate`): verifying every first copy at every node is
 * ~N² signature checks, which dominates a run of 1,000 nodes on a small machine without changing
 * any figure (those are in virtual time). An unsampled copy is still decoded, checked for
 * canonical form and validated, only not verified.
 */
import { decodeCbor, encodeCbor, isRecord, MAX_ENVELOPE_BYTES, open, seal, sha256Hex } from '../../protocols/codec/index.js'
import { validateAnnouncement, validateEvent, validateJobSpec } from '../../protocols/job/index.js'
import { validateLoadReport } from '../../protocols/load/index.js'
import type { Identity } from '../../protocols/codec/index.js'
import type { JobAnnouncement, JobEvent } from '../../protocols/job/index.js'
import type { LoadReport } from '../../protocols/load/index.js'
import type { Rng } from './links.js'

/** what a node learns from a valid message */
export type Heard =
  | { kind: 'job', id: string, value: JobAnnouncement, bytes: Uint8Array }
  | { kind: 'event', value: JobEvent }
  | { kind: 'load', value: LoadReport }

const SPEC = validateJobSpec({
  name: 'sim-job',
  stages: [{ title: 'build', steps: [{ title: 'build', command: 'true' }] }]
})

/** the spec every simulated job carries: a real, valid one-step spec */
export function simSpec (): NonNullable<typeof SPEC.spec> {
  if (SPEC.spec == null) throw new Error(`the simulator's job spec is invalid: ${JSON.stringify(SPEC.problems)}`)
  return SPEC.spec
}

/** the digest an announcement names for a builder set (as node/mesh/acceptor-set.ts computes it) */
export function builderDigest (builders: string[]): string {
  return sha256Hex(new TextEncoder().encode([...builders].sort().join('\n'))).slice(0, 32)
}

export function announce (identity: Identity, init: { mesh: string, nonce: string, at: number, acceptors: string[], trust: string }): { id: string, bytes: Uint8Array } {
  const a: JobAnnouncement = {
    spec: simSpec(), params: {}, priority: 0, submittedAt: init.at, node: identity.id, nonce: init.nonce,
    acceptors: init.acceptors, trust: init.trust, mesh: init.mesh
  }
  const s = seal(identity, 'job', a)
  return { id: s.hash, bytes: s.bytes }
}

export function jobEvent (identity: Identity, ev: Omit<JobEvent, 'node'>): Uint8Array {
  return seal(identity, 'event', { ...ev, node: identity.id }).bytes
}

/** a finished run's result as a `finished` event carries it */
export function simResult (job: string): NonNullable<JobEvent['result']> {
  return { state: 'succeeded', exitCode: 0, usage: { wallMs: 1000, cpuMs: 900, maxRssBytes: 1 << 20 }, log: sha256Hex(new TextEncoder().encode(job)), artefacts: [] }
}

export function loadReport (identity: Identity, r: LoadReport): Uint8Array {
  return seal(identity, 'load', { ...r, node: identity.id }).bytes
}

/** the envelope's fields without the signature check (canonical form still checked) */
function openUnverified (bytes: Uint8Array): { type: string, payload: unknown, hash?: string } {
  const raw = decodeCbor(bytes, MAX_ENVELOPE_BYTES)
  if (!isRecord(raw) || typeof raw.t !== 'string' || !(raw.p instanceof Uint8Array)) throw new Error('not an envelope')
  if (Buffer.compare(Buffer.from(encodeCbor(raw)), Buffer.from(bytes)) !== 0) throw new Error('not canonical')
  return { type: raw.t, payload: decodeCbor(raw.p, MAX_ENVELOPE_BYTES) }
}

export class Checker {
  verified = 0
  unverified = 0
  refused = 0

  constructor (private readonly rng: Rng, private readonly verifyRate: number) {}

  /** what a valid message says, or undefined for one the daemon's ingest would drop */
  check (bytes: Uint8Array): Heard | undefined {
    try {
      const verify = this.verifyRate >= 1 || this.rng.float() < this.verifyRate
      const m = verify ? open(bytes) : openUnverified(bytes)
      if (verify) this.verified++
      else this.unverified++
      const heard = this.validate(m.type, m.payload, bytes, m.hash)
      if (heard == null) this.refused++
      return heard
    } catch {
      this.refused++
      return undefined
    }
  }

  private validate (type: string, payload: unknown, bytes: Uint8Array, hash: string | undefined): Heard | undefined {
    if (type === 'job') {
      const { value } = validateAnnouncement(payload)
      // the id of an unverified copy is its publisher's (the same bytes): the caller knows it
      return value == null ? undefined : { kind: 'job', id: hash ?? '', value, bytes }
    }
    if (type === 'event') {
      const { value } = validateEvent(payload)
      return value == null ? undefined : { kind: 'event', value }
    }
    if (type === 'load') {
      const { value } = validateLoadReport(payload)
      return value == null ? undefined : { kind: 'load', value }
    }
    return undefined
  }
}
