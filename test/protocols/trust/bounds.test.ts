import { encode } from 'cborg'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeCbor, Identity, MAX_ENVELOPE_BYTES } from '../../../protocols/codec/index.js'
import { createMesh, makeGrant, makeRevoke, TrustState } from '../../../protocols/trust/index.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import { identities, T0 } from './fixtures.js'

/** the same envelope with its map keys in another order: valid CBOR, same meaning, other bytes */
function reencoded (bytes: Uint8Array): Uint8Array {
  const env = decodeCbor(bytes, MAX_ENVELOPE_BYTES) as Record<string, unknown>
  return encode(env, { mapSorter: (a: any, b: any) => (a[0].value < b[0].value ? 1 : -1) })
}

describe('trust records: bounded, and a revocation always gets in', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanups.splice(0)) await c() })

  it('a flood of re-encoded copies of valid grants fills nothing (same id: a duplicate; unseen: non-canonical); the revocation after it counts', async () => {
    const root = await Identity.generate()
    const mesh = createMesh(root, T0)
    const [member] = await identities(1)
    const trust = new TrustState({ mesh, clock: () => T0 + 100 }, { maxRecords: 4, maxPendingRecords: 2 })
    const grant = makeGrant(root, mesh, member.publicKey, ['submit'], {}, T0 + 1)
    expect(trust.add(grant.bytes)).toMatchObject({ accepted: true })
    expect(trust.add(reencoded(grant.bytes))).toMatchObject({ accepted: false, reason: 'duplicate' })
    const others = await identities(20)
    for (const k of others) expect(trust.add(reencoded(makeGrant(root, mesh, k.publicKey, ['read'], {}, T0 + 2).bytes))).toMatchObject({ accepted: false, reason: 'non-canonical' })
    expect(trust.size).toBe(1)
    expect(trust.add(makeRevoke(root, mesh, member.publicKey, T0 + 50).bytes)).toMatchObject({ accepted: true })
    expect(trust.isMember(member.id)).toBe(false)
  })

  it('a store full of records that count still takes an admin\'s revocation, and nobody else\'s record', async () => {
    const root = await Identity.generate()
    const mesh = createMesh(root, T0)
    const keys = await identities(4)
    const trust = new TrustState({ mesh, clock: () => T0 + 100 }, { maxRecords: 3, maxPendingRecords: 1 })
    for (let i = 0; i < 3; i++) expect(trust.add(makeGrant(root, mesh, keys[i].publicKey, ['submit'], {}, T0 + i).bytes)).toMatchObject({ accepted: true })
    expect(trust.add(makeGrant(root, mesh, keys[3].publicKey, ['read'], {}, T0 + 10).bytes)).toMatchObject({ accepted: false, reason: 'full' })
    // a member that is no admin cannot use the room kept for revocations
    expect(trust.add(makeRevoke(keys[0], mesh, keys[1].publicKey, T0 + 20).bytes)).toMatchObject({ accepted: false, reason: 'full' })
    expect(trust.add(makeRevoke(root, mesh, keys[1].publicKey, T0 + 30).bytes)).toMatchObject({ accepted: true })
    expect(trust.isMember(keys[1].id)).toBe(false)
  })

  it('one signer keeps at most its share of records that do not count', async () => {
    const root = await Identity.generate()
    const mesh = createMesh(root, T0)
    const keys = await identities(6)
    const trust = new TrustState({ mesh, clock: () => T0 + 100 }, { maxPendingPerSigner: 2, maxPendingRecords: 100 })
    expect(trust.add(makeGrant(root, mesh, keys[0].publicKey, ['submit'], {}, T0).bytes)).toMatchObject({ accepted: true })
    const reasons = keys.slice(1).map((k, i) => trust.add(makeGrant(keys[0], mesh, k.publicKey, ['read'], {}, T0 + 1 + i).bytes).reason)
    expect(reasons).toEqual(['not-admin', 'not-admin', 'signer-full', 'signer-full', 'signer-full'])
    expect(trust.size).toBe(3)
  })

  it('a record of a key no record names is kept in memory only: not stored, not in the log that sync serves, until its signer is named', async () => {
    const root = await Identity.generate()
    const mesh = createMesh(root, Date.now() - 10_000)
    const parts = await jobServiceOnDisk({ prefix: 'cit-trust-bounds-', identity: root, trust: mesh })
    cleanups.push(parts.close)
    const { trust, log } = parts
    const [stranger, friend] = await identities(2)
    const now = Date.now()
    const byStranger = makeGrant(stranger, mesh, friend.publicKey, ['read'], {}, now - 1000)
    expect(await trust.add(byStranger.bytes)).toMatchObject({ accepted: false, reason: 'not-admin' })
    expect(trust.knows(stranger.id)).toBe(false)
    expect(await log.has(byStranger.hash)).toBe(false)
    // the stranger is named (granted by the root): its record waiting in memory is kept for good now
    await trust.add(makeGrant(root, mesh, stranger.publicKey, ['read'], {}, now - 2000).bytes)
    expect(trust.knows(stranger.id)).toBe(true)
    expect(await log.has(byStranger.hash)).toBe(true)
  })
})
