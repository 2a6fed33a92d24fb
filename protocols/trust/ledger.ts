import type { PendingReason, Revocation, Role, TrustRecord } from './types.js'

/** A trust record as kept: the record, the key it is about, and its own time. */
export interface Stored {
  record: TrustRecord
  /** key id of the grant's or revoke's subject, or of the enrolled node */
  subject: string
  /** issuedAt, or an enrollment's `at` */
  time: number
}

/** One grant or enrollment that counted when it was issued: roles for `key` from `start`. */
export interface Entry {
  key: string
  hash: string
  start: number
  expiresAt?: number
  roles: readonly Role[]
  /** an invite grant: the key may enroll nodes but holds no roles itself */
  invite: boolean
  grantedBy: string
  via?: string
  /** time of the first revocation of `key` issued after `start`; the entry no longer counts */
  cutAt?: number
}

export type Status = 'ok' | PendingReason

/**
 * The result of replaying trust records in time order from the root. A record counts when, at its
 * own time, its signer was the root or held `admin` through an entry that had started, had not
 * expired and had not been revoked (an enrollment: when its invite grant was live). Authority only
 * flows forward in time, so one pass in time order is the fixpoint; records sharing a millisecond
 * are settled together (grants and enrollments to a fixpoint, then that millisecond's revocations,
 * each judged before any is applied), which makes the result independent of arrival order.
 */
export class Ledger {
  readonly entries = new Map<string, Entry[]>()
  readonly status = new Map<string, Status>()
  /** for each record that counts, the hash of the record that authorised it (absent: the root) */
  readonly authorisedBy = new Map<string, string>()
  readonly revocations: Revocation[] = []
  okCount = 0
  private readonly grants = new Map<string, Entry>()

  constructor (private readonly root: string) {}

  /** Apply every record whose evaluation time is `t`; earlier times must all have been applied. */
  applyGroup (items: readonly Stored[], t: number): void {
    let waiting = items.filter((item) => item.record.kind !== 'revoke')
    let progress = true
    while (progress && waiting.length > 0) {
      progress = false
      const next: Stored[] = []
      for (const item of waiting) {
        if (this.tryGrantOrEnroll(item, t)) progress = true
        else next.push(item)
      }
      waiting = next
    }
    const revokes = items.filter((item) => item.record.kind === 'revoke')
      .map((item) => ({ item, by: this.authorityAt(item.record.signer, t) }))
    for (const { item, by } of revokes) this.settle(item, by === false ? 'not-admin' : 'ok', by)
    for (const { item, by } of revokes) if (by !== false) this.revoke(item, t)
  }

  /** the entry through which `keyId` held admin at time `t`: null for the root, false for none */
  authorityAt (keyId: string, t: number): Entry | null | false {
    if (keyId === this.root) return null
    for (const entry of this.entries.get(keyId) ?? []) {
      if (!entry.invite && entry.cutAt === undefined && entry.start <= t &&
        (entry.expiresAt === undefined || t < entry.expiresAt) && entry.roles.includes('admin')) return entry
    }
    return false
  }

  /** the live entries of `keyId` at `now`: not revoked, not expired */
  liveEntries (keyId: string, now: number): Entry[] {
    return (this.entries.get(keyId) ?? []).filter((entry) =>
      entry.cutAt === undefined && (entry.expiresAt === undefined || now < entry.expiresAt))
  }

  private tryGrantOrEnroll (item: Stored, t: number): boolean {
    const { record } = item
    if (record.kind === 'grant') {
      const by = this.authorityAt(record.signer, t)
      if (by === false) return this.settle(item, 'not-admin', by)
      const p = record.payload
      const entry: Entry = {
        key: item.subject, hash: record.hash, start: t, roles: p.roles, invite: p.invite === true, grantedBy: record.signer
      }
      if (p.expiresAt !== undefined) entry.expiresAt = p.expiresAt
      this.grants.set(record.hash, entry)
      this.addEntry(entry)
      return this.settle(item, 'ok', by)
    }
    if (record.kind !== 'enroll') return false
    const invite = this.grants.get(record.payload.invite)
    const reason = invite === undefined
      ? 'unknown-invite'
      : !invite.invite || invite.key !== record.signer
          ? 'not-invite'
          : invite.cutAt !== undefined
            ? 'revoked'
            : invite.expiresAt !== undefined && t >= invite.expiresAt ? 'expired' : undefined
    if (reason !== undefined || invite === undefined) return this.settle(item, reason ?? 'unknown-invite', false)
    this.addEntry({ key: item.subject, hash: record.hash, start: t, roles: invite.roles, invite: false, grantedBy: invite.grantedBy, via: invite.hash })
    return this.settle(item, 'ok', invite)
  }

  private revoke (item: Stored, t: number): void {
    for (const entry of this.entries.get(item.subject) ?? []) {
      // "issued before it": an entry of the same millisecond survives, a later one is a re-grant
      if (entry.start < t && entry.cutAt === undefined) entry.cutAt = t
    }
    this.revocations.push({ subject: item.subject, by: item.record.signer, issuedAt: item.time, hash: item.record.hash })
  }

  private addEntry (entry: Entry): void {
    const list = this.entries.get(entry.key)
    if (list === undefined) this.entries.set(entry.key, [entry])
    else list.push(entry)
  }

  private settle (item: Stored, status: Status, by: Entry | null | false): boolean {
    const before = this.status.get(item.record.hash)
    if (before === 'ok') this.okCount--
    this.status.set(item.record.hash, status)
    if (status !== 'ok') return false
    this.okCount++
    if (by !== null && by !== false) this.authorisedBy.set(item.record.hash, by.hash)
    return true
  }
}
