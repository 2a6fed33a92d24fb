import { EventEmitter } from 'node:events'
import { decodeCbor, keyIdOf, MAX_ENVELOPE_BYTES } from '../../protocols/codec/index.js'
import { TrustState } from '../../protocols/trust/index.js'
import type { AddResult, MeshInfo, Role } from '../../protocols/trust/index.js'
import type { Logger } from '../../store/logger.js'
import type { MetaStore, RecordLog } from '../../store/meta/index.js'

const T_TRUST = 'trust'
/** records of unnamed signers held in memory at most (the state's caps bound them too) */
const MAX_UNNAMED = 1000
/** longest delay setTimeout takes (a later expiry is looked at again then) */
const MAX_TIMER_MS = 2 ** 31 - 1

/** the signer of a verified envelope's bytes, without verifying again */
function signerOf (bytes: Uint8Array): string | undefined {
  try {
    const raw = decodeCbor(bytes, MAX_ENVELOPE_BYTES) as { k?: unknown }
    return raw.k instanceof Uint8Array ? keyIdOf(raw.k) : undefined
  } catch {
    return undefined
  }
}

/** refused records are not kept; these reasons mean "kept, may count later" */
const KEPT = new Set(['not-admin', 'unknown-invite', 'not-invite', 'expired', 'revoked'])

export interface TrustServiceEvents {
  /** the set of records changed: roles may have changed */
  change: []
}

/**
 * The mesh's trust records on this node: a TrustState kept in LevelDB and in the record log, so
 * restarts keep every grant and peers can pull what they miss.
 */
export class TrustService extends EventEmitter<TrustServiceEvents> {
  readonly state: TrustState
  private readonly meta: MetaStore
  private readonly log: RecordLog
  private readonly logger: Logger

  private expiry?: ReturnType<typeof setTimeout>
  private stopped = false
  private readonly now: () => number
  /** records of signers nobody named yet, in memory only (hash → bytes and signer) */
  private readonly unnamed = new Map<string, { bytes: Uint8Array, signer: string }>()

  constructor (components: { meta: MetaStore, log: RecordLog, logger: Logger, mesh: MeshInfo, now?: () => number }) {
    super()
    this.meta = components.meta
    this.log = components.log
    this.logger = components.logger
    this.state = new TrustState({ mesh: components.mesh, clock: components.now })
    this.now = components.now ?? Date.now
    // every change (a record, an expiry) sets the timer for the next expiry
    this.on('change', () => { this.scheduleExpiry() })
  }

  async start (seed: Uint8Array[] = []): Promise<void> {
    const stored: Uint8Array[] = []
    for await (const [, bytes] of this.meta.table<Uint8Array>(T_TRUST).entries()) stored.push(bytes)
    this.state.addAll(stored)
    for (const bytes of seed) await this.add(bytes)
    this.scheduleExpiry()
  }

  /**
   * Verify and keep a record (from this node, a peer or a token); persisted if kept. A record
   * whose signer no kept record names is kept in memory only, so it is neither stored nor served
   * to peers, until a record naming its signer arrives (bounded by the state's pending caps).
   */
  async add (bytes: Uint8Array): Promise<AddResult> {
    const result = this.state.add(bytes)
    if (result.hash == null) return result
    const kept = result.accepted || (result.reason != null && KEPT.has(result.reason))
    if (!kept) return result
    const signer = signerOf(bytes)
    if (signer != null && !this.state.knows(signer) && !result.accepted) {
      this.unnamed.set(result.hash, { bytes, signer })
      if (this.unnamed.size > MAX_UNNAMED) this.unnamed.delete(this.unnamed.keys().next().value!)
      return result
    }
    await this.persist(result, bytes)
    // records that waited for their signer to be named
    for (const [hash, r] of this.unnamed) {
      if (!this.state.knows(r.signer)) continue
      this.unnamed.delete(hash)
      const status = this.state.statusOf(hash)
      if (status != null) await this.persist({ accepted: status.accepted, hash, reason: status.reason }, r.bytes)
    }
    return result
  }

  /** whether some kept record names this key (or it is the root): whose records are passed on */
  knows (keyId: string): boolean { return this.state.knows(keyId) }

  private async persist (result: AddResult, bytes: Uint8Array): Promise<void> {
    if (result.hash == null || await this.meta.table(T_TRUST).has(result.hash)) return
    await this.meta.batch([
      { type: 'put', table: T_TRUST, key: result.hash, value: bytes },
      ...this.log.appendOps(result.hash, bytes)
    ], { sync: true })
    this.logger.info('trust record kept', { hash: result.hash, accepted: result.accepted, reason: result.reason })
    this.emit('change')
  }

  /** stop telling listeners about changes (the records stay stored); idempotent */
  stop (): void {
    if (this.expiry != null) clearTimeout(this.expiry)
    this.expiry = undefined
    this.stopped = true
    this.removeAllListeners('change')
  }

  /**
   * A grant or invite that expires changes roles without any record arriving: at its expiry this
   * says `change` like a new record would, so its connections are cut and its attach sessions end
   * then, not at the next record. One timer, for the next expiry.
   */
  private scheduleExpiry (): void {
    if (this.stopped) return
    if (this.expiry != null) clearTimeout(this.expiry)
    this.expiry = undefined
    const now = this.now()
    const next = this.state.nextExpiry(now)
    if (next == null) return
    this.expiry = setTimeout(() => {
      this.expiry = undefined
      this.logger.info('a grant or invite expired', { at: next })
      this.emit('change')
    }, Math.min(next - now + 1, MAX_TIMER_MS))
    this.expiry.unref?.()
  }

  isMember (keyId: string): boolean { return this.state.isMember(keyId) }
  isInviteKey (keyId: string): boolean { return this.state.isInviteKey(keyId) }
  hasRole (keyId: string, role: Role): boolean { return this.state.hasRole(keyId, role) }
  rolesOf (keyId: string): Role[] { return this.state.rolesOf(keyId) }
  /** every role of the key was revoked (and none granted again since) */
  isRevoked (keyId: string): boolean {
    return !this.state.isMember(keyId) && this.state.revocations().some(r => r.subject === keyId)
  }
  roleAt (keyId: string, role: Role | null, at: number): 'held' | 'revoked' | 'not-held' { return this.state.roleAt(keyId, role, at) }
}
