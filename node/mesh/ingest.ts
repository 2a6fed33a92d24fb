import { open } from '../../protocols/codec/index.js'
import { decodeBundle } from '../../protocols/gossip/index.js'
import { validateAnnouncement, validateEvent } from '../../protocols/job/index.js'
import { LOAD_MAX_SKEW_MS, validateLoadReport } from '../../protocols/load/index.js'
import type { Signed } from '../../protocols/codec/index.js'
import type { JobAnnouncement, JobEvent, EventType } from '../../protocols/job/index.js'
import type { LoadReport } from '../../protocols/load/index.js'
import type { Logger } from '../../store/logger.js'
import type { JobService } from '../jobs/job-service.js'
import type { PeerTable } from './peer-table.js'
import type { TrustService } from './trust-service.js'
import { acceptorsProblem } from './acceptor-set.js'
import { HeldEvents } from './held-events.js'
import { refusal } from '../jobs/authority.js'

/** drop reasons of envelopes that do not open, by error code */
const OPEN_REASONS: Record<string, string> = { ERR_BAD_SIGNATURE: 'bad-signature', ERR_TOO_LARGE: 'too-large', ERR_NON_CANONICAL: 'non-canonical' }

/** the kinds of signed message the mesh carries */
export type Kind = 'job' | 'event' | 'load' | 'trust'
const TRUST_TYPES = new Set(['grant', 'revoke', 'enroll'])
/** an announcement signed further ahead of this node's clock than this is refused (`from-the-future`), by any path */
export const ANNOUNCE_MAX_SKEW_MS = 5 * 60_000
/**
 * a gossiped announcement signed longer ago than this is refused (`stale`): gossip carries news,
 * and history comes by sync, where a replayed id is a `duplicate` of the record kept for good
 */
export const ANNOUNCE_MAX_AGE_MS = 10 * 60_000
/** a load report signed longer ago than this is a replay: reports are signed as they are sent (at least every LOAD_HEARTBEAT_MS, 15 s); the rest allows for clock skew */
const LOAD_MAX_AGE_MS = 60_000
/** events only a building node signs about its own work */
const BUILD_EVENTS = new Set<EventType>(['claimed', 'started', 'finished', 'failed', 'requeued', 'lease-lost'])
/** events that count only with the acceptors' signatures (in a mesh) */
const FENCED = new Set<EventType>(['claimed', 'started', 'finished', 'failed'])
/** events the submitter or an admin signs (which of them: see authority.ts, once the job is known) */
const OWNER_EVENTS = new Set<EventType>(['cancel-requested', 'cancelled', 'superseded', 'submitted', 'reprioritized'])

/** `ignore`: the relaying peer is not at fault (gossip neither forwards nor penalises it) */
export type Verdict = { ok: true, value: Checked } | { ok: false, reason: string, ignore?: true }
export type Checked =
  | { kind: 'job', signed: Signed<JobAnnouncement> }
  | { kind: 'event', signed: Signed<JobEvent> }
  | { kind: 'load', signed: Signed<LoadReport> }
  | { kind: 'trust', bytes: Uint8Array, signed: Signed<unknown> }
  | { kind: 'record', bytes: Uint8Array, signed: Signed<unknown> }
  | { kind: 'bundle', job: Signed<JobAnnouncement>, events: Array<Signed<JobEvent>> }

/** Signed records of other types (repositories…) that ride the trust topic and the record log. */
export interface RecordHandler {
  types: ReadonlySet<string>
  /** why a member's record is refused, or undefined */
  check: (signed: Signed<unknown>) => string | undefined
  /** keep it; false when it was known already */
  apply: (bytes: Uint8Array, signed: Signed<unknown>) => Promise<boolean>
}

export interface IngestComponents {
  trust: TrustService
  jobs: JobService
  peers: PeerTable
  logger: Logger
  now?: () => number
  /** events of jobs not announced yet (default: HeldEvents' bounds) */
  held?: HeldEvents
  /** in a mesh: its id, which every job, event and load report must name */
  mesh?: string
  /** more record types (node/triggers: repositories) */
  records?: RecordHandler
}

/**
 * Everything a peer sends passes here, by gossip or by sync: size, shape and signature are
 * checked, the signer's role authorises the message, and only then is it acted on. Every drop is
 * counted by reason (`stats()`), and logged at debug level.
 */
export class Ingest {
  private readonly dropped = new Map<string, number>()
  private accepted = 0
  private heldCount = 0
  private readonly chains = new Map<string, Promise<void>>()
  private readonly now: () => number
  private readonly held: HeldEvents

  constructor (private readonly c: IngestComponents) {
    this.now = c.now ?? Date.now
    this.held = c.held ?? new HeldEvents()
  }

  /** `held`: events ever held for a job not known yet (each is then accepted or dropped once its job arrives) */
  stats (): { accepted: number, held: number, holding: number, dropped: Record<string, number> } {
    return { accepted: this.accepted, held: this.heldCount, holding: this.held.size, dropped: Object.fromEntries(this.dropped) }
  }

  /** count a drop under a stable reason code; `detail` goes to the log only */
  drop (reason: string, detail?: string): { ok: false, reason: string } {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1)
    this.c.logger.debug('message dropped', { reason, detail })
    return { ok: false, reason }
  }

  /**
   * Decide on a message's bytes without acting on it (gossip validators call this, with `live`:
   * a gossiped announcement must be recent).
   */
  check (bytes: Uint8Array, expect: Kind | 'record', options: { live?: boolean } = {}): Verdict {
    let signed: Signed<unknown>
    try {
      signed = open(bytes)
    } catch (err: any) {
      return this.drop(OPEN_REASONS[err?.code] ?? 'malformed')
    }
    const extra = this.c.records
    if (extra?.types.has(signed.type) === true) {
      if (expect !== 'trust' && expect !== 'record') return this.drop('wrong-topic')
      if (!this.c.trust.isMember(signed.signer)) return this.drop('not-a-member')
      if (this.c.mesh != null && (signed.payload as { mesh?: unknown } | null)?.mesh !== this.c.mesh) return this.drop('wrong-mesh')
      // the newest record of a name wins: one dated far ahead would win for good
      const at = (signed.payload as { at?: unknown } | null)?.at
      if (typeof at === 'number' && at > this.now() + ANNOUNCE_MAX_SKEW_MS) return this.drop('from-the-future')
      const problem = extra.check(signed)
      return problem != null ? this.drop(`bad-${signed.type}`, problem) : { ok: true, value: { kind: 'record', bytes, signed } }
    }
    const kind: Kind | undefined = TRUST_TYPES.has(signed.type) ? 'trust' : (['job', 'event', 'load'] as const).find(k => k === signed.type)
    if (kind == null) return this.drop('unknown-type')
    if (expect === 'record' ? kind === 'load' : kind !== expect) return this.drop('wrong-topic')
    // trust records are judged by the TrustState itself (out-of-order records are kept pending),
    // but gossip passes on no record of a key nobody named (an enrollment is its invite key's)
    if (kind === 'trust') {
      // (its signer's grant may still be on its way: not the relaying peer's fault)
      if (options.live === true && signed.type !== 'enroll' && !this.c.trust.knows(signed.signer)) return { ...this.drop('trust-not-a-member'), ignore: true }
      return { ok: true, value: { kind, bytes, signed } }
    }
    const trust = this.c.trust
    if (!trust.isMember(signed.signer)) return this.drop('not-a-member')
    // a record of another mesh, signed by a key that is a member of both, is no record of this one
    if (this.c.mesh != null && (signed.payload as { mesh?: unknown } | null)?.mesh !== this.c.mesh) return this.drop('wrong-mesh')
    if (kind === 'job') {
      const { value, problem } = validateAnnouncement(signed.payload)
      if (value == null) return this.drop('bad-job', problem)
      if (!trust.hasRole(signed.signer, 'submit')) return this.drop('no-submit-role')
      const now = this.now()
      if (value.submittedAt > now + ANNOUNCE_MAX_SKEW_MS) return this.drop('from-the-future')
      if (options.live === true && value.submittedAt < now - ANNOUNCE_MAX_AGE_MS) return this.drop('stale')
      const bad = acceptorsProblem(value, trust)
      if (bad != null) return this.drop('bad-acceptors', bad)
      return { ok: true, value: { kind, signed: { ...signed, payload: value } } }
    }
    if (kind === 'event') {
      const { value, problem } = validateEvent(signed.payload)
      if (value == null) return this.drop('bad-event', problem)
      // every event is its node's own word: who signed it is who did it
      if (value.node !== signed.signer) return this.drop(BUILD_EVENTS.has(value.type) ? 'no-build-role' : 'not-own-event')
      // a cache hit is recorded by its submitter's node, which need not build
      const role = value.type === 'finished' && value.result?.cacheHit === true ? 'submit' : 'build'
      if (BUILD_EVENTS.has(value.type) && (!trust.hasRole(signed.signer, role) || value.node !== signed.signer)) return this.drop('no-build-role')
      if (OWNER_EVENTS.has(value.type) && !trust.hasRole(signed.signer, 'submit') && !trust.hasRole(signed.signer, 'admin')) return this.drop('not-owner')
      return { ok: true, value: { kind, signed: { ...signed, payload: value } } }
    }
    const { value, problem } = validateLoadReport(signed.payload)
    if (value == null) return this.drop('bad-load', problem)
    if (value.node !== signed.signer) return this.drop('load-not-own')
    const now = this.now()
    if (value.at > now + LOAD_MAX_SKEW_MS) return this.drop('from-the-future')
    if (value.at < now - LOAD_MAX_AGE_MS) return this.drop('stale')
    return { ok: true, value: { kind, signed: { ...signed, payload: value } } }
  }

  /**
   * Decide on a bundle's bytes (protocols/gossip/bundle.ts): a job's announcement and events its
   * own signer signed with it, each record checked as if it had come alone. One record refused
   * refuses the bundle, for that record's reason.
   */
  checkBundle (bytes: Uint8Array, options: { live?: boolean } = {}): Verdict {
    let records: Uint8Array[]
    try {
      records = decodeBundle(bytes)
    } catch (err: any) {
      return this.drop(OPEN_REASONS[err?.code] ?? 'bad-bundle', String(err?.message ?? err))
    }
    const first = this.check(records[0], 'job', options)
    if (!first.ok) return first
    if (first.value.kind !== 'job') return this.drop('bad-bundle', 'its first record is not a job announcement')
    const job = first.value.signed
    const events: Array<Signed<JobEvent>> = []
    const seen = new Set([job.hash])
    for (const bytes of records.slice(1)) {
      const v = this.check(bytes, 'event', options)
      if (!v.ok) return v
      if (v.value.kind !== 'event') return this.drop('bad-bundle', 'a record after the first is not an event')
      const ev = v.value.signed
      if (ev.payload.job !== job.hash) return this.drop('bad-bundle', 'an event of another job')
      if (ev.signer !== job.signer) return this.drop('bad-bundle', 'an event signed by another key than the announcement')
      if (seen.has(ev.hash)) return this.drop('bad-bundle', 'a record twice')
      seen.add(ev.hash)
      events.push(ev)
    }
    return { ok: true, value: { kind: 'bundle', job, events } }
  }

  /** Act on a checked message; duplicates and replays are counted and change nothing. */
  async apply (v: Checked): Promise<void> {
    switch (v.kind) {
      case 'trust': {
        const r = await this.c.trust.add(v.bytes)
        if (!r.accepted && !(r.pending ?? false)) { this.drop(`trust-${r.reason ?? 'refused'}`); return }
        break
      }
      case 'job':
        await this.perJob(v.signed.hash, async () => { await this.applyAnnouncement(v.signed) })
        return
      case 'bundle':
        // the announcement, then its events against it, as if each had come alone in that order
        await this.perJob(v.job.hash, async () => {
          await this.applyAnnouncement(v.job)
          for (const ev of v.events) await this.applyEvent(ev)
        })
        return
      case 'event':
        // one job at a time: an event must not be held just after its announcement took the held ones
        await this.perJob(v.signed.payload.job, async () => { await this.applyEvent(v.signed) })
        return
      case 'record':
        if (!await this.c.records!.apply(v.bytes, v.signed)) { this.drop('duplicate'); return }
        break
      case 'load':
        if (!await this.c.peers.update(v.signed.payload)) { this.drop('replay'); return }
        break
    }
    this.accepted++
  }

  /** an event of a job known here is judged against it; one of a job not seen yet is held */
  /** an announcement, within its job's turn: stored, then the events held for it judged against it */
  private async applyAnnouncement (signed: Signed<JobAnnouncement>): Promise<void> {
    if (!await this.c.jobs.ingestAnnouncement(signed)) { this.drop('duplicate'); return }
    this.accepted++
    // the events that came before it are judged now, against the job they name
    for (const ev of this.held.take(signed.hash)) await this.applyEvent(ev)
  }

  private async applyEvent (signed: Signed<JobEvent>): Promise<void> {
    const ev = signed.payload
    const row = await this.c.jobs.get(ev.job)
    if (await this.c.jobs.store.hasRecord(signed.hash)) { this.drop('duplicate'); return }
    if (row == null) {
      const r = this.held.hold(signed)
      for (let i = 0; i < r.evicted; i++) this.drop('held-full')
      if (r.refused != null) { this.drop(r.refused === 'already-held' ? 'duplicate' : r.refused); return }
      this.heldCount++
      return
    }
    const why = refusal(row, ev, (key, at) => this.c.trust.roleAt(key, 'admin', at) !== 'not-held')
    if (why != null) { this.drop(why); return }
    // a run event without the acceptors' word for it is refused, not stored
    if (FENCED.has(ev.type) && !this.c.jobs.store.certify(row, ev)) { this.drop(ev.type === 'started' || ev.type === 'claimed' ? 'no-lease' : 'no-quorum'); return }
    if (!await this.c.jobs.ingestEvent(signed)) { this.drop('duplicate'); return }
    this.accepted++
  }

  /** run `fn` after every earlier message about the same job */
  private async perJob (job: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(job) ?? Promise.resolve()
    const next = prev.catch(() => {}).then(fn)
    this.chains.set(job, next)
    try {
      await next
    } finally {
      if (this.chains.get(job) === next) this.chains.delete(job)
    }
  }

  /** a record pulled by sync: check then apply; never throws for bad input */
  async fromSync (bytes: Uint8Array): Promise<void> {
    const v = this.check(bytes, 'record')
    if (v.ok) await this.apply(v.value)
  }
}
