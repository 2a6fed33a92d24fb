import { describe, expect, it } from 'vitest'
import { makeEnroll, makeGrant, makeRevoke, TrustState } from '../../../protocols/trust/index.js'
import { fixture, identities, rng, shuffle, T0 } from './fixtures.js'
import type { Identity } from '../../../protocols/codec/index.js'
import type { MeshInfo } from '../../../protocols/trust/index.js'

const NOW = T0 + 100

/** what every node should conclude, whatever order the records came in */
function snapshot (trust: TrustState, keys: Identity[]): unknown {
  return {
    roles: Object.fromEntries(keys.map((k) => [k.id, trust.rolesOf(k.id, NOW)])),
    invites: keys.filter((k) => trust.isInviteKey(k.id, T0 + 59)).map((k) => k.id),
    rolesEarlier: Object.fromEntries(keys.map((k) => [k.id, trust.rolesOf(k.id, T0 + 19)])),
    members: trust.members(NOW),
    records: trust.records().map((b) => Buffer.from(b).toString('hex')).sort(),
    revocations: trust.revocations().map((r) => r.hash).sort()
  }
}

async function scenario (): Promise<{ mesh: MeshInfo, records: Uint8Array[], keys: Record<string, Identity>, all: Identity[] }> {
  const { root, mesh } = await fixture()
  const names = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'I', 'N1', 'N2', 'N3', 'X'] as const
  const ids = await identities(names.length)
  const k = Object.fromEntries(names.map((n, i) => [n, ids[i]])) as Record<typeof names[number], Identity>
  const inv = makeGrant(k.A, mesh, k.I.publicKey, ['build', 'read'], { invite: true, expiresAt: T0 + 60 }, T0 + 6)
  const records = [
    makeGrant(root, mesh, k.A.publicKey, ['admin'], {}, T0 + 1),
    makeGrant(k.A, mesh, k.B.publicKey, ['submit', 'build'], {}, T0 + 2),
    makeGrant(k.A, mesh, k.C.publicKey, ['admin'], {}, T0 + 3),
    makeGrant(k.C, mesh, k.D.publicKey, ['read'], {}, T0 + 4),
    makeGrant(k.C, mesh, k.F.publicKey, ['read'], {}, T0 + 5),
    inv,
    makeEnroll(k.I, mesh, inv.hash, k.N1.publicKey, T0 + 7),
    makeEnroll(k.I, mesh, inv.hash, k.N2.publicKey, T0 + 8),
    makeRevoke(k.A, mesh, k.N2.publicKey, T0 + 9),
    makeRevoke(root, mesh, k.C.publicKey, T0 + 10),
    makeGrant(k.C, mesh, k.E.publicKey, ['build'], {}, T0 + 11),
    makeGrant(root, mesh, k.C.publicKey, ['read'], {}, T0 + 12),
    makeGrant(root, mesh, k.H.publicKey, ['admin'], {}, T0 + 13),
    makeGrant(k.H, mesh, k.J.publicKey, ['submit'], {}, T0 + 13),
    makeGrant(k.B, mesh, k.K.publicKey, ['submit'], {}, T0 + 14),
    makeRevoke(root, mesh, k.A.publicKey, T0 + 15),
    makeGrant(k.A, mesh, k.L.publicKey, ['read'], {}, T0 + 16),
    makeGrant(k.A, mesh, k.G.publicKey, ['submit'], { expiresAt: T0 + 20 }, T0 + 14),
    makeEnroll(k.I, mesh, inv.hash, k.N3.publicKey, T0 + 61),
    makeEnroll(k.I, mesh, 'f'.repeat(64), k.X.publicKey, T0 + 7),
    // two admins revoking each other in the same millisecond: both revocations count
    makeGrant(root, mesh, k.M.publicKey, ['admin', 'read'], {}, T0 + 13),
    makeRevoke(k.H, mesh, k.M.publicKey, T0 + 17),
    makeRevoke(k.M, mesh, k.H.publicKey, T0 + 17),
    makeGrant(k.M, mesh, k.X.publicKey, ['read'], {}, T0 + 18)
  ].map((r) => r.bytes)
  return { mesh, records, keys: k, all: [root, ...ids] }
}

describe('TrustState convergence', () => {
  it('computes the expected roles from records in time order', async () => {
    const { mesh, records, keys: k } = await scenario()
    const trust = new TrustState({ mesh, clock: () => NOW })
    for (const bytes of records) trust.add(bytes)
    const roles = (key: Identity): string[] => trust.rolesOf(key.id, NOW)
    expect(roles(k.A)).toEqual([])
    expect(roles(k.B)).toEqual(['submit', 'build'])
    expect(roles(k.C)).toEqual(['read'])
    expect(roles(k.D)).toEqual(['read'])
    expect(roles(k.E)).toEqual([])
    expect(roles(k.F)).toEqual(['read'])
    expect(roles(k.G)).toEqual([])
    expect(roles(k.H)).toEqual([])
    expect(roles(k.M)).toEqual([])
    expect(roles(k.J)).toEqual(['submit'])
    expect(roles(k.K)).toEqual([])
    expect(roles(k.L)).toEqual([])
    expect(roles(k.I)).toEqual([])
    expect(trust.isInviteKey(k.I.id, T0 + 59)).toBe(true)
    expect(trust.isInviteKey(k.I.id, NOW)).toBe(false)
    expect(roles(k.N1)).toEqual(['build', 'read'])
    expect(roles(k.N2)).toEqual([])
    expect(roles(k.N3)).toEqual([])
    expect(roles(k.X)).toEqual([])
    expect(trust.members(NOW).map((m) => m.keyId).sort()).toEqual([trust.rootId, k.B.id, k.C.id, k.D.id, k.F.id, k.J.id, k.N1.id].sort())
  })

  it('converges to the same answers for any arrival order, one by one or in a batch', async () => {
    const { mesh, records, all } = await scenario()
    const inOrder = new TrustState({ mesh, clock: () => NOW })
    for (const bytes of records) inOrder.add(bytes)
    const expected = snapshot(inOrder, all)
    const random = rng(0xC17)
    for (let round = 0; round < 12; round++) {
      const order = shuffle(records, random)
      const oneByOne = new TrustState({ mesh, clock: () => NOW })
      for (const bytes of order) oneByOne.add(bytes)
      expect(snapshot(oneByOne, all), `round ${round}`).toEqual(expected)
      const batch = new TrustState({ mesh, clock: () => NOW })
      batch.addAll(order)
      expect(snapshot(batch, all), `round ${round} (batch)`).toEqual(expected)
    }
  })

  it('a peer syncing from records() alone reaches the same answers', async () => {
    const { mesh, records, all } = await scenario()
    const source = new TrustState({ mesh, clock: () => NOW })
    source.addAll(shuffle(records, rng(7)))
    const peer = new TrustState({ mesh, clock: () => NOW })
    const results = peer.addAll(source.records())
    expect(results.every((r) => r.accepted)).toBe(true)
    expect(snapshot(peer, all)).toEqual(snapshot(source, all))
  })

  it('evaluates thousands of records quickly, in order and shuffled', async () => {
    const { root, mesh } = await fixture()
    const admins = await identities(20)
    const members = await identities(40)
    const records: Uint8Array[] = admins.map((a, i) => makeGrant(root, mesh, a.publicKey, ['admin'], {}, T0 + i).bytes)
    let t = T0 + 100
    for (let round = 0; round < 5; round++) {
      for (const admin of admins) {
        for (const m of members) records.push(makeGrant(admin, mesh, m.publicKey, ['read'], { expiresAt: T0 + 1e9 }, t++).bytes)
      }
    }
    records.push(makeRevoke(root, mesh, members[0].publicKey, t + 1).bytes)
    expect(records.length).toBeGreaterThan(4000)
    const now = t + 10
    const started = performance.now()
    const inOrder = new TrustState({ mesh, clock: () => now })
    for (const bytes of records) expect(inOrder.add(bytes).accepted).toBe(true)
    const shuffled = new TrustState({ mesh, clock: () => now })
    shuffled.addAll(shuffle(records, rng(1)))
    for (const m of members.slice(1)) expect(shuffled.rolesOf(m.id, now)).toEqual(['read'])
    expect(shuffled.isMember(members[0].id, now)).toBe(false)
    expect(shuffled.members(now)).toHaveLength(1 + admins.length + members.length - 1)
    // generous bound for a slow CI machine; signature checks dominate (~7k/s)
    expect(performance.now() - started).toBeLessThan(10_000)
  })
})
