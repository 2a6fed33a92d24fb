import { Identity } from '../../protocols/codec/index.js'
import { encodeToken, isRole, makeGrant, makeRevoke, publicKeyOfKeyId, DEFAULT_INVITE_TTL_MS } from '../../protocols/trust/index.js'
import { InvalidInputError, NodeError } from '../errors.js'
import type { MeshInfo, Role } from '../../protocols/trust/index.js'
import type { MeshService } from './mesh-service.js'
import type { TrustService } from './trust-service.js'

/** the key may not do this: it lacks a role */
export class ForbiddenError extends NodeError {
  constructor (message: string) {
    super('ERR_FORBIDDEN', message)
    this.name = 'ForbiddenError'
  }
}

/** the command needs a mesh and this node is not in one */
export class NotInMeshError extends NodeError {
  constructor () {
    super('ERR_NOT_IN_MESH', 'this node is not in a mesh: `cit-node init` creates one, `cit-node join TOKEN` joins one')
    this.name = 'NotInMeshError'
  }
}

export const DEFAULT_INVITE_ROLES: Role[] = ['submit', 'build', 'read']
/** the longest an invite may live */
export const MAX_INVITE_TTL_MS = 30 * 24 * 3600_000

export function parseRoles (input: unknown): Role[] {
  const list = Array.isArray(input) ? input : typeof input === 'string' ? input.split(',') : []
  const roles = list.map(r => String(r).trim()).filter(r => r !== '')
  const bad = roles.filter(r => !isRole(r))
  if (roles.length === 0 || bad.length > 0) throw new InvalidInputError(`roles: ${bad.length > 0 ? `unknown role ${bad.join(', ')}; ` : ''}give some of submit, build, read, admin`)
  return [...new Set(roles)] as Role[]
}

/**
 * What an admin does: make join tokens, grant and revoke roles. Each is a signed record kept in
 * the trust service and gossiped, so it reaches every member (and members that were offline, by sync).
 */
export class MeshAdmin {
  constructor (private readonly c: { identity: Identity, mesh: MeshInfo, trust: TrustService, service: MeshService }) {}

  private requireAdmin (): void {
    if (!this.c.trust.hasRole(this.c.identity.id, 'admin')) throw new ForbiddenError(`this node's key ${this.c.identity.id} does not hold the admin role`)
  }

  async invite (options: { roles?: unknown, ttlMs?: number }): Promise<{ token: string, roles: Role[], expiresAt: number }> {
    this.requireAdmin()
    const roles = options.roles == null ? DEFAULT_INVITE_ROLES : parseRoles(options.roles)
    const ttl = options.ttlMs ?? DEFAULT_INVITE_TTL_MS
    if (!Number.isSafeInteger(ttl) || ttl < 1000 || ttl > MAX_INVITE_TTL_MS) throw new InvalidInputError('expires: must be between 1 s and 30 days')
    const addrs = this.c.service.addrs()
    if (addrs.length === 0) throw new NodeError('ERR_NO_ADDRESS', 'this node has no listening address to put in a token')
    const inviteKey = await Identity.generate()
    const now = Date.now()
    const grant = makeGrant(this.c.identity, this.c.mesh, inviteKey.publicKey, roles, { invite: true, expiresAt: now + ttl }, now)
    const added = await this.c.trust.add(grant.bytes)
    if (!added.accepted) throw new NodeError('ERR_INTERNAL', `the invite was refused by this node's own trust state: ${added.reason ?? ''}`)
    await this.c.service.publish(grant)
    const token = encodeToken({
      mesh: this.c.mesh,
      invite: grant.bytes,
      inviteKey: inviteKey.toBytes(),
      addrs: addrs.slice(0, 16),
      chain: this.c.trust.state.proofOf(grant.hash) ?? []
    })
    return { token, roles, expiresAt: now + ttl }
  }

  async grant (keyId: string, rolesInput: unknown, options: { ttlMs?: number } = {}): Promise<{ hash: string }> {
    this.requireAdmin()
    const roles = parseRoles(rolesInput)
    const subject = this.subjectOf(keyId)
    const now = Date.now()
    const signed = makeGrant(this.c.identity, this.c.mesh, subject, roles, options.ttlMs != null ? { expiresAt: now + options.ttlMs } : {}, now)
    const r = await this.c.trust.add(signed.bytes)
    if (!r.accepted) throw new NodeError('ERR_INTERNAL', `grant refused: ${r.reason ?? ''}`)
    await this.c.service.publish(signed)
    return { hash: signed.hash }
  }

  async revoke (keyId: string): Promise<{ hash: string }> {
    this.requireAdmin()
    const subject = this.subjectOf(keyId)
    const signed = makeRevoke(this.c.identity, this.c.mesh, subject)
    const r = await this.c.trust.add(signed.bytes)
    if (!r.accepted) throw new InvalidInputError(`revoke refused: ${r.reason ?? ''}`)
    await this.c.service.publish(signed)
    return { hash: signed.hash }
  }

  private subjectOf (keyId: string): Uint8Array {
    try {
      return publicKeyOfKeyId(keyId)
    } catch {
      throw new InvalidInputError(`${JSON.stringify(keyId)} is not a key id (a peer id like 12D3KooW…)`)
    }
  }
}
