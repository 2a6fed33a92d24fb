import { describe, expect, it } from 'vitest'
import { decodeCbor, encodeCbor, Identity, seal } from '../../../protocols/codec/index.js'
import {
  CLOCK_SKEW_MS, createMesh, makeEnroll, makeGrant, makeRevoke, ROLES, TrustState
} from '../../../protocols/trust/index.js'
import { fixture, identities, T0 } from './fixtures.js'

describe('TrustState roles', () => {
  it('holds the root as a member with every role, and nobody else', async () => {
    const { root, state } = await fixture()
    const [stranger] = await identities(1)
    const trust = state()
    expect(trust.rolesOf(root.id)).toEqual([...ROLES])
    expect(trust.hasRole(root.id, 'admin')).toBe(true)
    expect(trust.isMember(stranger.id)).toBe(false)
    expect(trust.rolesOf(stranger.id)).toEqual([])
    expect(trust.members()).toEqual([{ keyId: root.id, roles: [...ROLES], grantedBy: root.id, since: T0 }])
  })

  it('follows a chain root → admin → member, with who granted and since when', async () => {
    const { root, mesh, state } = await fixture()
    const [admin, member] = await identities(2)
    const trust = state()
    expect(trust.add(makeGrant(root, mesh, admin.publicKey, ['admin'], {}, T0 + 1).bytes)).toMatchObject({ accepted: true })
    expect(trust.add(makeGrant(admin, mesh, member.publicKey, ['submit', 'read'], {}, T0 + 2).bytes)).toMatchObject({ accepted: true })
    expect(trust.rolesOf(admin.id)).toEqual(['admin'])
    expect(trust.hasRole(admin.id, 'submit')).toBe(false)
    expect(trust.rolesOf(member.id)).toEqual(['submit', 'read'])
    expect(trust.members()).toContainEqual({ keyId: member.id, roles: ['submit', 'read'], grantedBy: admin.id, since: T0 + 2 })
    expect(trust.records()).toHaveLength(2)
  })

  it('counts a grant whose signer becomes admin only when the admin grant arrives later', async () => {
    const { root, mesh, state } = await fixture()
    const [admin, member] = await identities(2)
    const trust = state()
    const early = makeGrant(admin, mesh, member.publicKey, ['build'], {}, T0 + 2)
    expect(trust.add(early.bytes)).toEqual({ accepted: false, reason: 'not-admin', pending: true, hash: early.hash })
    expect(trust.isMember(member.id)).toBe(false)
    expect(trust.records()).toHaveLength(0)
    trust.add(makeGrant(root, mesh, admin.publicKey, ['admin'], {}, T0 + 1).bytes)
    expect(trust.hasRole(member.id, 'build')).toBe(true)
    expect(trust.statusOf(early.hash)).toEqual({ accepted: true })
    expect(trust.records()).toHaveLength(2)
  })

  it('settles a chain of grants made within one millisecond, whatever their hashes', async () => {
    const { root, mesh, state } = await fixture()
    const keys = await identities(7)
    const trust = state()
    const chain = keys.map((key, i) => makeGrant(i === 0 ? root : keys[i - 1], mesh, key.publicKey, i === keys.length - 1 ? ['read'] : ['admin'], {}, T0 + 1))
    trust.addAll(chain.map((g) => g.bytes))
    expect(trust.rolesOf(keys[keys.length - 1].id)).toEqual(['read'])
    expect(trust.records()).toHaveLength(keys.length)
    expect(trust.proofOf(chain[chain.length - 1].hash)).toEqual(chain.slice(0, -1).map((g) => g.bytes))
  })

  it('does not count a grant made by a key before it was made admin', async () => {
    const { root, mesh, state } = await fixture()
    const [admin, member] = await identities(2)
    const trust = state()
    trust.add(makeGrant(root, mesh, admin.publicKey, ['admin'], {}, T0 + 5).bytes)
    expect(trust.add(makeGrant(admin, mesh, member.publicKey, ['build'], {}, T0 + 4).bytes)).toMatchObject({ accepted: false, reason: 'not-admin' })
  })

  it('revocation removes roles, and a revoked admin\'s later grants do not count but earlier ones do', async () => {
    const { root, mesh, state } = await fixture()
    const [admin, before, after] = await identities(3)
    const trust = state()
    trust.add(makeGrant(root, mesh, admin.publicKey, ['admin', 'read'], {}, T0 + 1).bytes)
    trust.add(makeGrant(admin, mesh, before.publicKey, ['read'], {}, T0 + 2).bytes)
    const revoke = makeRevoke(root, mesh, admin.publicKey, T0 + 3)
    expect(trust.add(revoke.bytes)).toMatchObject({ accepted: true })
    expect(trust.add(makeGrant(admin, mesh, after.publicKey, ['read'], {}, T0 + 4).bytes)).toMatchObject({ accepted: false, reason: 'not-admin' })
    expect(trust.isMember(admin.id)).toBe(false)
    expect(trust.hasRole(before.id, 'read')).toBe(true)
    expect(trust.isMember(after.id)).toBe(false)
    expect(trust.revocations()).toEqual([{ subject: admin.id, by: root.id, issuedAt: T0 + 3, hash: revoke.hash }])
    // a grant issued after the revocation gives the key its roles back
    trust.add(makeGrant(root, mesh, admin.publicKey, ['read'], {}, T0 + 5).bytes)
    expect(trust.rolesOf(admin.id)).toEqual(['read'])
  })

  it('a revocation that arrives late still cancels the grants issued before it', async () => {
    const { root, mesh, state } = await fixture()
    const [admin, member] = await identities(2)
    const trust = state()
    trust.add(makeGrant(root, mesh, admin.publicKey, ['admin'], {}, T0 + 1).bytes)
    const late = makeGrant(admin, mesh, member.publicKey, ['read'], {}, T0 + 10)
    expect(trust.add(late.bytes)).toMatchObject({ accepted: true })
    trust.add(makeRevoke(root, mesh, admin.publicKey, T0 + 5).bytes)
    expect(trust.isMember(member.id)).toBe(false)
    expect(trust.statusOf(late.hash)).toEqual({ accepted: false, reason: 'not-admin' })
  })

  it('expires grants and invites', async () => {
    const { root, mesh, state } = await fixture()
    const [member, invite, node] = await identities(3)
    const trust = state(T0)
    trust.add(makeGrant(root, mesh, member.publicKey, ['read'], { expiresAt: T0 + 50 }, T0 + 1).bytes)
    const inv = makeGrant(root, mesh, invite.publicKey, ['build'], { invite: true, expiresAt: T0 + 50 }, T0 + 1)
    trust.add(inv.bytes)
    expect(trust.hasRole(member.id, 'read', T0 + 49)).toBe(true)
    expect(trust.hasRole(member.id, 'read', T0 + 50)).toBe(false)
    expect(trust.isInviteKey(invite.id, T0 + 49)).toBe(true)
    expect(trust.isInviteKey(invite.id, T0 + 50)).toBe(false)
    expect(trust.members(T0 + 50).map((m) => m.keyId)).toEqual([root.id])
    // an enrollment dated after the invite expired does not count
    const enroll = makeEnroll(invite, mesh, inv.hash, node.publicKey, T0 + 50)
    expect(trust.add(enroll.bytes)).toMatchObject({ accepted: false, reason: 'expired', pending: true })
    expect(trust.isMember(node.id, T0 + 50)).toBe(false)
  })

  it('an admin grant that expired still vouches for what the admin granted while it held', async () => {
    const { root, mesh, state } = await fixture()
    const [admin, early, late] = await identities(3)
    const trust = state()
    trust.add(makeGrant(root, mesh, admin.publicKey, ['admin'], { expiresAt: T0 + 10 }, T0 + 1).bytes)
    trust.add(makeGrant(admin, mesh, early.publicKey, ['read'], {}, T0 + 5).bytes)
    expect(trust.add(makeGrant(admin, mesh, late.publicKey, ['read'], {}, T0 + 10).bytes)).toMatchObject({ accepted: false, reason: 'not-admin' })
    expect(trust.hasRole(early.id, 'read', T0 + 100)).toBe(true)
    expect(trust.isMember(admin.id, T0 + 100)).toBe(false)
  })
})

describe('TrustState enrollment through an invite', () => {
  it('gives the invite\'s roles to the enrolled node, never to the invite key, for any number of nodes', async () => {
    const { root, mesh, state } = await fixture()
    const [invite, node1, node2] = await identities(3)
    const trust = state()
    const inv = makeGrant(root, mesh, invite.publicKey, ['build', 'read'], { invite: true }, T0 + 1)
    expect(trust.add(inv.bytes)).toMatchObject({ accepted: true })
    expect(trust.isInviteKey(invite.id)).toBe(true)
    expect(trust.isMember(invite.id)).toBe(false)
    expect(trust.add(makeEnroll(invite, mesh, inv.hash, node1.publicKey, T0 + 2).bytes)).toMatchObject({ accepted: true })
    expect(trust.add(makeEnroll(invite, mesh, inv.hash, node2.publicKey, T0 + 3).bytes)).toMatchObject({ accepted: true })
    expect(trust.rolesOf(node1.id)).toEqual(['build', 'read'])
    expect(trust.rolesOf(node2.id)).toEqual(['build', 'read'])
    expect(trust.rolesOf(invite.id)).toEqual([])
    expect(trust.members()).toContainEqual({ keyId: node1.id, roles: ['build', 'read'], grantedBy: root.id, since: T0 + 2, via: inv.hash })
    // enrolled membership outlives the invite
    expect(trust.rolesOf(node1.id, T0 + 365 * 86_400_000)).toEqual(['build', 'read'])
  })

  it('an invite key cannot grant, even when its invite carries admin', async () => {
    const { root, mesh, state } = await fixture()
    const [invite, other] = await identities(2)
    const trust = state()
    trust.add(makeGrant(root, mesh, invite.publicKey, ['admin'], { invite: true }, T0 + 1).bytes)
    expect(trust.add(makeGrant(invite, mesh, other.publicKey, ['read'], {}, T0 + 2).bytes)).toMatchObject({ accepted: false, reason: 'not-admin' })
  })

  it('accepts an enrollment dated a little before its invite (clock skew) from the invite\'s time', async () => {
    const { root, mesh, state } = await fixture()
    const [invite, node] = await identities(2)
    const trust = state()
    const inv = makeGrant(root, mesh, invite.publicKey, ['read'], { invite: true }, T0 + 50)
    trust.add(makeEnroll(invite, mesh, inv.hash, node.publicKey, T0 + 40).bytes)
    expect(trust.isMember(node.id)).toBe(false)
    trust.add(inv.bytes)
    expect(trust.members()).toContainEqual(expect.objectContaining({ keyId: node.id, since: T0 + 50 }))
  })

  it('refuses enrollments through unknown, non-invite or revoked invites, and by the wrong key', async () => {
    const { root, mesh, state } = await fixture()
    const [invite, plain, node, thief] = await identities(4)
    const trust = state()
    const inv = makeGrant(root, mesh, invite.publicKey, ['read'], { invite: true }, T0 + 1)
    const notInvite = makeGrant(root, mesh, plain.publicKey, ['read'], {}, T0 + 1)
    expect(trust.add(makeEnroll(invite, mesh, inv.hash, node.publicKey, T0 + 2).bytes)).toMatchObject({ accepted: false, reason: 'unknown-invite', pending: true })
    trust.add(notInvite.bytes)
    expect(trust.add(makeEnroll(plain, mesh, notInvite.hash, node.publicKey, T0 + 3).bytes)).toMatchObject({ reason: 'not-invite' })
    trust.add(inv.bytes)
    expect(trust.isMember(node.id)).toBe(true)
    expect(trust.add(makeEnroll(thief, mesh, inv.hash, thief.publicKey, T0 + 4).bytes)).toMatchObject({ reason: 'not-invite' })
    trust.add(makeRevoke(root, mesh, invite.publicKey, T0 + 5).bytes)
    expect(trust.isInviteKey(invite.id)).toBe(false)
    expect(trust.add(makeEnroll(invite, mesh, inv.hash, thief.publicKey, T0 + 6).bytes)).toMatchObject({ reason: 'revoked' })
    expect(trust.isMember(thief.id)).toBe(false)
    // the node enrolled before the invite was revoked stays a member until it is revoked itself
    expect(trust.isMember(node.id)).toBe(true)
    trust.add(makeRevoke(root, mesh, node.publicKey, T0 + 7).bytes)
    expect(trust.isMember(node.id)).toBe(false)
  })
})

describe('TrustState refuses bad records with reason codes', () => {
  it('wrong mesh, tampered bytes, bad signature, garbage, wrong shape, future, duplicate, revoking the root', async () => {
    const { root, mesh, state } = await fixture()
    const [member, admin] = await identities(2)
    const trust = state(T0)
    const other = createMesh(root, T0)
    expect(trust.add(makeGrant(root, other, member.publicKey, ['read'], {}, T0).bytes)).toMatchObject({ accepted: false, reason: 'wrong-mesh' })

    const grant = makeGrant(root, mesh, member.publicKey, ['read'], {}, T0)
    const env = decodeCbor(grant.bytes, 4096) as any
    const sig = new Uint8Array(env.s)
    sig[10] ^= 1
    expect(trust.add(encodeCbor({ ...env, s: sig }))).toMatchObject({ accepted: false, reason: 'bad-signature' })
    const payload = decodeCbor(env.p, 4096) as any
    expect(trust.add(encodeCbor({ ...env, p: encodeCbor({ ...payload, roles: ['admin'] }) }))).toMatchObject({ reason: 'bad-signature' })
    expect(trust.add(encodeCbor({ ...env, k: admin.publicKey }))).toMatchObject({ reason: 'bad-signature' })
    for (let i = 0; i < grant.bytes.length; i += 7) {
      const copy = new Uint8Array(grant.bytes)
      copy[i] ^= 0x40
      expect(['bad-signature', 'malformed', 'too-large']).toContain(trust.add(copy).reason)
    }
    expect(trust.add(new Uint8Array([1, 2, 3]))).toMatchObject({ reason: 'malformed' })
    expect(trust.add(new Uint8Array(100_000))).toMatchObject({ reason: 'too-large' })
    expect(trust.add(seal(root, 'grant', { ...payload, extra: true }).bytes)).toMatchObject({ reason: 'malformed' })
    expect(trust.add(seal(root, 'load', payload).bytes)).toMatchObject({ reason: 'malformed' })
    expect(trust.add(makeGrant(admin, mesh, member.publicKey, ['read'], {}, T0).bytes)).toMatchObject({ reason: 'not-admin', pending: true })
    expect(trust.add(makeGrant(root, mesh, member.publicKey, ['read'], {}, T0 + CLOCK_SKEW_MS + 1).bytes)).toMatchObject({ reason: 'future' })
    expect(trust.add(makeGrant(root, mesh, member.publicKey, ['read'], {}, T0 + CLOCK_SKEW_MS).bytes)).toMatchObject({ accepted: true })
    expect(trust.add(grant.bytes)).toMatchObject({ accepted: true })
    expect(trust.add(grant.bytes)).toMatchObject({ accepted: false, reason: 'duplicate' })
    expect(trust.add(makeRevoke(admin, mesh, root.publicKey, T0).bytes)).toMatchObject({ reason: 'revokes-root' })
    expect(trust.rolesOf(member.id)).toEqual(['read'])
    expect(trust.size).toBe(3)
  })

  it('bounds the records kept that do not count, dropping the oldest first', async () => {
    const root = await Identity.generate()
    const ownMesh = createMesh(root, T0)
    const keys = await identities(6)
    const trust = new TrustState({ mesh: ownMesh, clock: () => T0 + 100 }, { maxPendingRecords: 3, maxRecords: 5 })
    const pending = keys.slice(0, 5).map((k, i) => makeGrant(k, ownMesh, keys[5].publicKey, ['read'], {}, T0 + i))
    for (const p of pending) expect(trust.add(p.bytes)).toMatchObject({ reason: 'not-admin' })
    expect(trust.size).toBe(3)
    expect(trust.statusOf(pending[0].hash)).toBeUndefined()
    expect(trust.statusOf(pending[4].hash)).toEqual({ accepted: false, reason: 'not-admin' })
    // records that count push pending ones out, and are refused only when nothing else can go
    for (let i = 0; i < 5; i++) expect(trust.add(makeGrant(root, ownMesh, keys[i].publicKey, ['read'], {}, T0 + 10 + i).bytes)).toMatchObject({ accepted: true })
    expect(trust.size).toBe(5)
    expect(trust.add(makeGrant(root, ownMesh, keys[5].publicKey, ['read'], {}, T0 + 20).bytes)).toMatchObject({ accepted: false, reason: 'full' })
  })

  it('checks its options', async () => {
    const { mesh } = await fixture()
    expect(() => new TrustState({ mesh }, { maxRecords: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})
