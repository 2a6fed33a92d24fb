import { EventEmitter } from 'node:events'
import { TrustState } from '../../protocols/trust/index.js'
import type { AddResult, MeshInfo, Role } from '../../protocols/trust/index.js'
import type { Logger } from '../../store/logger.js'
import type { MetaStore, RecordLog } from '../../store/meta/index.js'

const T_TRUST = 'trust'
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

  constructor (components: { meta: MetaStore, log: RecordLog, logger: Logger, mesh: MeshInfo, now?: () => number }) {
    super()
    this.meta = components.meta
    this.log = components.log
    this.logger = components.logger
    this.state = new TrustState({ mesh: components.mesh, clock: components.now })
  }

  async start (seed: Uint8Array[] = []): Promise<void> {
    const stored: Uint8Array[] = []
    for await (const [, bytes] of this.meta.table<Uint8Array>(T_TRUST).entries()) stored.push(bytes)
    this.state.addAll(stored)
    for (const bytes of seed) await this.add(bytes)
  }

  /** Verify and keep a record (from this node, a peer or a token); persisted if kept. */
  async add (bytes: Uint8Array): Promise<AddResult> {
    const result = this.state.add(bytes)
    if (result.hash == null) return result
    const kept = result.accepted || (result.reason != null && KEPT.has(result.reason))
    if (!kept) return result
    if (await this.meta.table(T_TRUST).has(result.hash)) return result
    await this.meta.batch([
      { type: 'put', table: T_TRUST, key: result.hash, value: bytes },
      ...this.log.appendOps(result.hash, bytes)
    ], { sync: true })
    this.logger.info('trust record kept', { hash: result.hash, accepted: result.accepted, reason: result.reason })
    this.emit('change')
    return result
  }

  /** stop telling listeners about changes (the records stay stored); idempotent */
  stop (): void {
    this.removeAllListeners('change')
  }

  isMember (keyId: string): boolean { return this.state.isMember(keyId) }
  isInviteKey (keyId: string): boolean { return this.state.isInviteKey(keyId) }
  hasRole (keyId: string, role: Role): boolean { return this.state.hasRole(keyId, role) }
  rolesOf (keyId: string): Role[] { return this.state.rolesOf(keyId) }
  roleAt (keyId: string, role: Role | null, at: number): 'held' | 'revoked' | 'not-held' { return this.state.roleAt(keyId, role, at) }
}
