import { recordId } from '../codec/envelope.js'
import { keyIdOf } from '../codec/keys.js'
import { CLOCK_SKEW_MS, MAX_PENDING_PER_SIGNER, MAX_PENDING_RECORDS, MAX_RECORD_BYTES, MAX_RECORDS } from './constants.js'
import { InvalidOptionError } from './errors.js'
import { Ledger } from './ledger.js'
import { openRecord } from './records.js'
import { ROLES } from './types.js'
import type { Stored, Status } from './ledger.js'
import type { AddResult, Member, MeshInfo, PendingReason, RefusedReason, Revocation, Role } from './types.js'

export interface TrustStateComponents {
  mesh: MeshInfo
  /** ms since the epoch; records dated later than this plus the skew allowance are refused */
  clock?: () => number
}

export interface TrustStateInit {
  /** default MAX_RECORDS */
  maxRecords?: number
  /** default MAX_PENDING_RECORDS */
  maxPendingRecords?: number
  /** default MAX_PENDING_PER_SIGNER */
  maxPendingPerSigner?: number
  /** default CLOCK_SKEW_MS */
  clockSkewMs?: number
}

type Admitted = { stored: Stored } | { refused: RefusedReason, hash?: string }

/**
 * The trust records of one mesh and the roles they give. Records may arrive in any order: each is
 * kept, and roles are the replay of all of them in time order from the root (see Ledger), so any
 * arrival order gives the same answers. The replay is cached and redone only when a record
 * arrives out of time order; a record newer than all others extends it in place.
 */
export class TrustState {
  readonly mesh: MeshInfo
  readonly rootId: string
  private readonly clock: () => number
  private readonly maxRecords: number
  private readonly maxPending: number
  private readonly maxPendingPerSigner: number
  /** keys some kept grant or enrollment names: the only keys (with the root) whose records are kept */
  private readonly subjects = new Map<string, number>()
  /** records kept per signer */
  private readonly bySigner = new Map<string, number>()
  private lastLedger: Ledger | undefined
  private readonly skewMs: number
  /** in arrival order, which is the eviction order of pending records */
  private readonly stored = new Map<string, Stored>()
  private readonly enrollsByInvite = new Map<string, Set<string>>()
  private ledger: Ledger | undefined
  /** hashes in replay order */
  private order: string[] = []
  private maxTime = -Infinity

  constructor (components: TrustStateComponents, init: TrustStateInit = {}) {
    this.mesh = components.mesh
    this.rootId = keyIdOf(components.mesh.root)
    this.clock = components.clock ?? Date.now
    this.maxRecords = positive(init.maxRecords ?? MAX_RECORDS, 'maxRecords')
    this.maxPending = positive(init.maxPendingRecords ?? MAX_PENDING_RECORDS, 'maxPendingRecords')
    this.maxPendingPerSigner = positive(init.maxPendingPerSigner ?? MAX_PENDING_PER_SIGNER, 'maxPendingPerSigner')
    this.skewMs = positive(init.clockSkewMs ?? CLOCK_SKEW_MS, 'clockSkewMs')
  }

  /** how many records are kept, counting pending ones */
  get size (): number {
    return this.stored.size
  }

  /**
   * Verify, validate and keep one signed record, then say whether it counts. A record older than
   * some already kept makes the next question replay everything: give a sync batch to `addAll`.
   */
  add (bytes: Uint8Array, now: number = this.clock()): AddResult {
    const admitted = this.admit(bytes, now)
    if ('refused' in admitted) return refusal(admitted.refused, admitted.hash)
    const { stored } = admitted
    const time = this.sortTime(stored)
    const fast = this.ledger !== undefined && time > this.maxTime &&
      !(stored.record.kind === 'grant' && this.enrollsByInvite.has(stored.record.hash))
    this.insert(stored)
    if (fast && this.ledger !== undefined) {
      this.ledger.applyGroup([stored], time)
      this.order.push(stored.record.hash)
      this.maxTime = time
    } else {
      this.ledger = undefined
    }
    this.trimPending()
    return this.resultOf(stored.record.hash)
  }

  /** Add many records (a sync batch) and replay once: much cheaper than `add` for out-of-order input. */
  addAll (list: Iterable<Uint8Array>, now: number = this.clock()): AddResult[] {
    const results: Array<AddResult | string> = []
    for (const bytes of list) {
      const admitted = this.admit(bytes, now)
      if ('refused' in admitted) {
        results.push(refusal(admitted.refused, admitted.hash))
        continue
      }
      this.insert(admitted.stored)
      this.ledger = undefined
      results.push(admitted.stored.record.hash)
    }
    this.trimPending()
    return results.map((r) => typeof r === 'string' ? this.resultOf(r) : r)
  }

  /** whether a kept record counts now, and if not why; undefined for a record not kept */
  statusOf (hash: string): { accepted: boolean, reason?: PendingReason } | undefined {
    if (!this.stored.has(hash)) return undefined
    const status = this.evaluate().status.get(hash) ?? 'not-admin'
    return status === 'ok' ? { accepted: true } : { accepted: false, reason: status }
  }

  /** the roles `keyId` holds at `now`; the root holds every role */
  rolesOf (keyId: string, now: number = this.clock()): Role[] {
    if (keyId === this.rootId) return [...ROLES]
    const held = new Set<Role>()
    for (const entry of this.evaluate().liveEntries(keyId, now)) {
      if (!entry.invite) for (const role of entry.roles) held.add(role)
    }
    return ROLES.filter((role) => held.has(role))
  }

  hasRole (keyId: string, role: Role, now: number = this.clock()): boolean {
    return this.rolesOf(keyId, now).includes(role)
  }

  /**
   * Whether `keyId` held `role` (null: any role) at time `at`, by the records kept now: `revoked`
   * when every grant that covered `at` has since been revoked (what a key signed under a revoked
   * grant counts for nothing), `not-held` when no grant covered `at`.
   */
  roleAt (keyId: string, role: Role | null, at: number): 'held' | 'revoked' | 'not-held' {
    if (keyId === this.rootId) return 'held'
    const covering = (this.evaluate().entries.get(keyId) ?? []).filter((entry) => !entry.invite && entry.start <= at &&
      (entry.expiresAt === undefined || at < entry.expiresAt) && (role === null || entry.roles.includes(role)))
    if (covering.length === 0) return 'not-held'
    return covering.some((entry) => entry.cutAt === undefined) ? 'held' : 'revoked'
  }

  /** holds any role at `now` (invite keys are not members) */
  isMember (keyId: string, now: number = this.clock()): boolean {
    return this.rolesOf(keyId, now).length > 0
  }

  /**
   * The first time after `now` at which a live grant or invite expires (roles change without any
   * record arriving), or undefined when none will.
   */
  nextExpiry (now: number = this.clock()): number | undefined {
    let next: number | undefined
    for (const entries of this.evaluate().entries.values()) {
      for (const e of entries) {
        if (e.cutAt === undefined && e.expiresAt !== undefined && e.expiresAt > now && (next === undefined || e.expiresAt < next)) next = e.expiresAt
      }
    }
    return next
  }

  /** the subject of an invite grant that counts, has not expired and has not been revoked */
  isInviteKey (keyId: string, now: number = this.clock()): boolean {
    return this.evaluate().liveEntries(keyId, now).some((entry) => entry.invite)
  }

  /** the bytes of every record that counts, oldest first: what to send a peer that syncs */
  records (): Uint8Array[] {
    const ledger = this.evaluate()
    const out: Uint8Array[] = []
    for (const hash of this.order) {
      const stored = this.stored.get(hash)
      if (stored !== undefined && ledger.status.get(hash) === 'ok') out.push(stored.record.bytes)
    }
    return out
  }

  /**
   * The records that authorise the record `hash` (its signer's admin grant, that grant's signer's,
   * and so on up to the root; for an enrollment, its invite grant first), oldest first.
   * Undefined when the record does not count. A join token carries this as its chain.
   */
  proofOf (hash: string): Uint8Array[] | undefined {
    const ledger = this.evaluate()
    if (ledger.status.get(hash) !== 'ok') return undefined
    const chain: Uint8Array[] = []
    for (let h = ledger.authorisedBy.get(hash); h !== undefined; h = ledger.authorisedBy.get(h)) {
      const stored = this.stored.get(h)
      if (stored === undefined) break
      chain.unshift(stored.record.bytes)
    }
    return chain
  }

  /** every key holding a role at `now`, the root first */
  members (now: number = this.clock()): Member[] {
    const ledger = this.evaluate()
    const out: Member[] = [{ keyId: this.rootId, roles: [...ROLES], grantedBy: this.rootId, since: this.mesh.createdAt }]
    for (const keyId of ledger.entries.keys()) {
      if (keyId === this.rootId) continue
      const live = ledger.liveEntries(keyId, now).filter((entry) => !entry.invite)
      if (live.length === 0) continue
      const first = live.reduce((a, b) => (b.start < a.start ? b : a))
      const member: Member = { keyId, roles: this.rolesOf(keyId, now), grantedBy: first.grantedBy, since: first.start }
      if (first.via !== undefined) member.via = first.via
      out.push(member)
    }
    return out.sort((a, b) => (a.keyId === this.rootId ? -1 : b.keyId === this.rootId ? 1 : a.since - b.since || cmp(a.keyId, b.keyId)))
  }

  /** every revocation that counts, oldest first */
  revocations (): Revocation[] {
    return [...this.evaluate().revocations]
  }

  private admit (bytes: Uint8Array, now: number): Admitted {
    if (bytes.byteLength > MAX_RECORD_BYTES) return { refused: 'too-large' }
    let hash: string
    try {
      hash = recordId(bytes)
    } catch {
      return { refused: 'malformed' }
    }
    if (this.stored.has(hash)) return { refused: 'duplicate', hash }
    let record
    try {
      record = openRecord(bytes)
    } catch (err) {
      const code = (err as { code?: string }).code
      return { refused: code === 'ERR_BAD_SIGNATURE' ? 'bad-signature' : code === 'ERR_TOO_LARGE' ? 'too-large' : code === 'ERR_NON_CANONICAL' ? 'non-canonical' : 'malformed', hash }
    }
    if (record.payload.mesh !== this.mesh.id) return { refused: 'wrong-mesh', hash }
    const time = record.kind === 'enroll' ? record.payload.at : record.payload.issuedAt
    if (time > now + this.skewMs) return { refused: 'future', hash }
    const subject = keyIdOf(record.kind === 'enroll' ? record.payload.node : record.payload.subject)
    if (record.kind === 'revoke' && subject === this.rootId) return { refused: 'revokes-root', hash }
    if ((this.bySigner.get(record.signer) ?? 0) >= this.maxPendingPerSigner && this.pendingOf(record.signer) >= this.maxPendingPerSigner) return { refused: 'signer-full', hash }
    // a revocation from an admin is always kept: a full store must never keep a key that should go
    if (this.stored.size >= this.maxRecords && !this.evictPending() && !(record.kind === 'revoke' && this.isAdminNow(record.signer, now))) return { refused: 'full', hash }
    return { stored: { record, subject, time } }
  }

  /**
   * Whether some kept record names `keyId` (a grant or an enrollment), or it is the root. The
   * records of a key nobody named are nobody's word: a node keeps them in memory only (their
   * signer's grant may be on its way) and passes them on to nobody (see TrustService, Ingest).
   */
  knows (keyId: string): boolean {
    return keyId === this.rootId || this.subjects.has(keyId)
  }

  /**
   * Records kept from `signer` that do not count (yet), by the last replay (a batch being added
   * does not replay for each record: a cap may count a little late, never wrongly by much).
   */
  private pendingOf (signer: string): number {
    if (signer === this.rootId) return 0
    const ledger = this.ledger ?? this.lastLedger ?? this.evaluate()
    let n = 0
    for (const [hash, stored] of this.stored) if (stored.record.signer === signer && ledger.status.get(hash) !== 'ok') n++
    return n
  }

  private isAdminNow (signer: string, now: number): boolean {
    return signer === this.rootId || this.rolesOf(signer, now).includes('admin')
  }

  private insert (stored: Stored): void {
    const { record } = stored
    this.stored.set(record.hash, stored)
    if (record.kind !== 'revoke') this.subjects.set(stored.subject, (this.subjects.get(stored.subject) ?? 0) + 1)
    this.bySigner.set(record.signer, (this.bySigner.get(record.signer) ?? 0) + 1)
    if (record.kind === 'enroll') {
      const set = this.enrollsByInvite.get(record.payload.invite)
      if (set === undefined) this.enrollsByInvite.set(record.payload.invite, new Set([record.hash]))
      else set.add(record.hash)
    }
  }

  /** drop the oldest-arrived record that does not count; false when every record counts */
  private evictPending (): boolean {
    const ledger = this.evaluate()
    for (const [hash, stored] of this.stored) {
      if (ledger.status.get(hash) === 'ok') continue
      this.stored.delete(hash)
      ledger.status.delete(hash)
      if (stored.record.kind !== 'revoke') decrement(this.subjects, stored.subject)
      decrement(this.bySigner, stored.record.signer)
      if (stored.record.kind === 'enroll') {
        const set = this.enrollsByInvite.get(stored.record.payload.invite)
        set?.delete(hash)
        if (set?.size === 0) this.enrollsByInvite.delete(stored.record.payload.invite)
      }
      // a record that does not count changed nothing in the ledger, so the replay stays valid
      return true
    }
    return false
  }

  private trimPending (): void {
    const ledger = this.evaluate()
    while (this.stored.size - ledger.okCount > this.maxPending && this.evictPending()) { /* evicting */ }
  }

  private resultOf (hash: string): AddResult {
    const status: Status | undefined = this.stored.has(hash) ? this.evaluate().status.get(hash) : undefined
    if (status === 'ok') return { accepted: true, hash }
    // evicted at once: the pending pool was full of older records
    if (status === undefined) return { accepted: false, reason: 'full', hash }
    return { accepted: false, reason: status, pending: true, hash }
  }

  /** evaluation time: an enrollment cannot take effect before its invite grant was issued */
  private sortTime (stored: Stored): number {
    const { record } = stored
    if (record.kind !== 'enroll') return stored.time
    const invite = this.stored.get(record.payload.invite)
    return invite?.record.kind === 'grant' ? Math.max(stored.time, invite.time) : stored.time
  }

  private evaluate (): Ledger {
    if (this.ledger !== undefined) return this.ledger
    const items = [...this.stored.values()].map((stored) => ({ stored, time: this.sortTime(stored) }))
    items.sort((a, b) => a.time - b.time || cmp(a.stored.record.hash, b.stored.record.hash))
    const ledger = new Ledger(this.rootId)
    for (let i = 0; i < items.length;) {
      let j = i
      while (j < items.length && items[j].time === items[i].time) j++
      ledger.applyGroup(items.slice(i, j).map((item) => item.stored), items[i].time)
      i = j
    }
    this.order = items.map((item) => item.stored.record.hash)
    this.maxTime = items.length > 0 ? items[items.length - 1].time : -Infinity
    this.ledger = ledger
    this.lastLedger = ledger
    return ledger
  }
}

function refusal (reason: RefusedReason, hash?: string): AddResult {
  return hash === undefined ? { accepted: false, reason } : { accepted: false, reason, hash }
}

function decrement (map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1
  if (n <= 0) map.delete(key)
  else map.set(key, n)
}

function cmp (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function positive (value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidOptionError(`${name} must be a positive integer, got ${value}`)
  return value
}
