import { describe, expect, it } from 'vitest'
import { decodeCbor, encodeCbor, Identity, seal } from '../../../protocols/codec/index.js'
import {
  createMesh, decodeMeshInfo, DEFAULT_INVITE_TTL_MS, encodeMeshInfo, makeEnroll, makeGrant, makeRevoke, meshIdOf,
  openRecord, publicKeyOfKeyId, validateMeshInfo
} from '../../../protocols/trust/index.js'
import { fixture, T0 } from './fixtures.js'

describe('mesh information', () => {
  it('names a mesh by the hash of its root, creation time and nonce', async () => {
    const root = await Identity.generate()
    const mesh = createMesh(root, T0)
    expect(mesh.id).toMatch(/^[0-9a-f]{64}$/)
    expect(mesh.root).toEqual(root.publicKey)
    expect(mesh.id).toBe(meshIdOf(root.publicKey, T0, mesh.nonce))
    expect(createMesh(root, T0).id).not.toBe(mesh.id)
    expect(decodeMeshInfo(encodeMeshInfo(mesh))).toEqual(mesh)
  })

  it('refuses mesh information whose id does not match or whose fields are wrong', async () => {
    const mesh = createMesh(await Identity.generate(), T0)
    const other = await Identity.generate()
    const bad = [
      { ...mesh, root: other.publicKey },
      { ...mesh, createdAt: T0 + 1 },
      { ...mesh, id: mesh.id.toUpperCase() },
      { ...mesh, nonce: new Uint8Array(15) },
      { ...mesh, extra: 1 },
      [mesh],
      null
    ]
    for (const value of bad) expect(() => validateMeshInfo(value)).toThrow(expect.objectContaining({ code: 'ERR_BAD_MESH' }))
    expect(() => decodeMeshInfo(new Uint8Array([0xff]))).toThrow(expect.objectContaining({ code: 'ERR_BAD_MESH' }))
  })
})

describe('trust records', () => {
  it('round-trips each kind through the same parser a receiver uses', async () => {
    const { root, mesh } = await fixture()
    const [subject, invite, node] = await Promise.all([Identity.generate(), Identity.generate(), Identity.generate()])
    const grant = makeGrant(root, mesh, subject.publicKey, ['submit', 'read'], { expiresAt: T0 + 50 }, T0)
    expect(openRecord(grant.bytes)).toMatchObject({ kind: 'grant', signer: root.id, hash: grant.hash, payload: { roles: ['submit', 'read'], expiresAt: T0 + 50 } })
    const inv = makeGrant(root, mesh.id, invite.publicKey, ['build'], { invite: true }, T0)
    expect(inv.payload).toMatchObject({ invite: true, expiresAt: T0 + DEFAULT_INVITE_TTL_MS })
    const enroll = makeEnroll(invite, mesh, inv.hash, node.publicKey, T0 + 1)
    expect(openRecord(enroll.bytes)).toMatchObject({ kind: 'enroll', signer: invite.id, payload: { invite: inv.hash, at: T0 + 1 } })
    const revoke = makeRevoke(root, mesh, subject.publicKey, T0 + 2)
    expect(openRecord(revoke.bytes)).toMatchObject({ kind: 'revoke', payload: { issuedAt: T0 + 2 } })
  })

  it('refuses to make records peers would refuse, with ERR_BAD_RECORD', async () => {
    const { root, mesh } = await fixture()
    const key = (await Identity.generate()).publicKey
    expect(() => makeGrant(root, mesh, key, ['root' as any], {}, T0)).toThrow(expect.objectContaining({ code: 'ERR_BAD_RECORD' }))
    expect(() => makeGrant(root, mesh, key, [], {}, T0)).toThrow(expect.objectContaining({ code: 'ERR_BAD_RECORD' }))
    expect(() => makeGrant(root, mesh, key.subarray(1), ['read'], {}, T0)).toThrow(expect.objectContaining({ code: 'ERR_BAD_RECORD' }))
    expect(() => makeGrant(root, mesh, key, ['read'], { expiresAt: T0 }, T0)).toThrow(expect.objectContaining({ code: 'ERR_BAD_RECORD' }))
    expect(() => makeEnroll(root, mesh, 'nothex', key, T0)).toThrow(expect.objectContaining({ code: 'ERR_BAD_RECORD' }))
    expect(() => makeRevoke(root, 'short', key, T0)).toThrow(expect.objectContaining({ code: 'ERR_BAD_RECORD' }))
  })

  it('validates every field strictly on open', async () => {
    const { root, mesh } = await fixture()
    const subject = (await Identity.generate()).publicKey
    const good = { mesh: mesh.id, subject, roles: ['read'], issuedAt: T0 }
    const badGrants: unknown[] = [
      { ...good, roles: ['read', 'read'] },
      { ...good, roles: ['read', 'submit', 'build', 'admin', 'read'] },
      { ...good, roles: ['superuser'] },
      { ...good, roles: 'read' },
      { ...good, subject: new Uint8Array(33) },
      { ...good, subject: 'key' },
      { ...good, issuedAt: -1 },
      { ...good, issuedAt: 1.5 },
      { ...good, issuedAt: '1' },
      { ...good, expiresAt: T0 - 1 },
      { ...good, invite: false },
      { ...good, invite: true },
      { ...good, mesh: mesh.id.slice(1) },
      { ...good, mesh: mesh.id.toUpperCase() },
      { ...good, note: 'hi' },
      [good]
    ]
    for (const payload of badGrants) {
      expect(() => openRecord(seal(root, 'grant', payload).bytes), JSON.stringify(payload)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    }
    const goodEnroll = { mesh: mesh.id, invite: 'a'.repeat(64), node: subject, at: T0 }
    for (const payload of [{ ...goodEnroll, invite: 'A'.repeat(64) }, { ...goodEnroll, node: new Uint8Array(0) }, { ...goodEnroll, extra: 1 }, { mesh: mesh.id }]) {
      expect(() => openRecord(seal(root, 'enroll', payload).bytes)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    }
    expect(() => openRecord(seal(root, 'revoke', { mesh: mesh.id, subject, issuedAt: T0, roles: ['read'] }).bytes)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => openRecord(seal(root, 'job', good).bytes)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
  })

  it('refuses a payload changed after signing', async () => {
    const { root, mesh } = await fixture()
    const grant = makeGrant(root, mesh, (await Identity.generate()).publicKey, ['read'], {}, T0)
    const env = decodeCbor(grant.bytes, 4096) as any
    const payload = decodeCbor(env.p, 4096) as any
    const forged = encodeCbor({ ...env, p: encodeCbor({ ...payload, roles: ['admin'] }) })
    expect(() => openRecord(forged)).toThrow(expect.objectContaining({ code: 'ERR_BAD_SIGNATURE' }))
  })

  it('turns a key id back into its public key', async () => {
    const id = await Identity.generate()
    expect(publicKeyOfKeyId(id.id)).toEqual(id.publicKey)
    expect(() => publicKeyOfKeyId('not-a-peer-id')).toThrow(expect.objectContaining({ code: 'ERR_BAD_KEY_ID' }))
  })
})
