import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { encodeCbor, Identity, recordId } from '../../../protocols/codec/index.js'
import {
  createMesh, decodeToken, encodeToken, makeGrant, MAX_ADDR_LENGTH, MAX_TOKEN_ADDRS, MAX_TOKEN_BYTES, TrustState
} from '../../../protocols/trust/index.js'
import { fixture, T0 } from './fixtures.js'
import type { JoinToken } from '../../../protocols/trust/index.js'

const NOW = T0 + 1000
const BAD = expect.objectContaining({ code: 'ERR_BAD_TOKEN' })

async function rootToken (): Promise<{ token: JoinToken, root: Identity, invite: Identity }> {
  const { root, mesh } = await fixture()
  const invite = await Identity.generate()
  const grant = makeGrant(root, mesh, invite.publicKey, ['build', 'read'], { invite: true }, T0 + 1)
  const addrs = [`/ip4/127.0.0.1/tcp/4001/p2p/${root.id}`, `/ip6/::1/tcp/4001/p2p/${root.id}`]
  return { token: { mesh, invite: grant.bytes, inviteKey: invite.toBytes(), addrs }, root, invite }
}

/** build a token string the way encodeToken does, but without its checks */
function rawToken (value: unknown): string {
  const cbor = encodeCbor(value)
  const sum = createHash('sha256').update(cbor).digest().subarray(0, 4)
  return 'cit1' + Buffer.concat([cbor, sum]).toString('base64url')
}

describe('join tokens', () => {
  it('round-trips a root-signed invite and opens its parts', async () => {
    const { token, invite } = await rootToken()
    const text = encodeToken(token, NOW)
    expect(text).toMatch(/^cit1[A-Za-z0-9_-]+$/)
    const decoded = decodeToken(`  ${text}\n`, NOW)
    expect(decoded.mesh).toEqual(token.mesh)
    expect(decoded.addrs).toEqual(token.addrs)
    expect(decoded.roles).toEqual(['build', 'read'])
    expect(decoded.inviteIdentity.id).toBe(invite.id)
    expect(decoded.chain).toEqual([])
    expect(decoded.inviteHash).toBe(recordId(token.invite))
  })

  it('accepts an invite by a non-root admin only with the chain that proves it', async () => {
    const { root, mesh } = await fixture()
    const [admin, invite] = await Promise.all([Identity.generate(), Identity.generate()])
    const trust = new TrustState({ mesh, clock: () => NOW })
    trust.add(makeGrant(root, mesh, admin.publicKey, ['admin'], {}, T0 + 1).bytes)
    const grant = makeGrant(admin, mesh, invite.publicKey, ['submit'], { invite: true }, T0 + 2)
    trust.add(grant.bytes)
    const chain = trust.proofOf(grant.hash)
    expect(chain).toHaveLength(1)
    const token: JoinToken = { mesh, invite: grant.bytes, inviteKey: invite.toBytes(), addrs: [], chain }
    expect(decodeToken(encodeToken(token, NOW), NOW).chain).toHaveLength(1)
    expect(() => encodeToken({ ...token, chain: [] }, NOW)).toThrow(BAD)
    expect(() => decodeToken(rawToken({ mesh, invite: grant.bytes, inviteKey: invite.toBytes(), addrs: [] }), NOW)).toThrow(BAD)
  })

  it('refuses a changed character anywhere', async () => {
    const { token } = await rootToken()
    const text = encodeToken(token, NOW)
    for (let i = 4; i < text.length; i += 3) {
      const c = text[i] === 'A' ? 'B' : 'A'
      expect(() => decodeToken(text.slice(0, i) + c + text.slice(i + 1), NOW), `position ${i}`).toThrow(BAD)
    }
    expect(() => decodeToken(text.slice(0, -5), NOW)).toThrow(BAD)
  })

  it('refuses garbled, oversized and mistyped input', async () => {
    for (const text of ['', 'cit1', 'cit2AAAA', 'hello', 'cit1!!!!', 'cit1AAAA', 'cit1' + 'A'.repeat(20_000), 'cit1' + Buffer.from('{}').toString('base64url')]) {
      expect(() => decodeToken(text, NOW), text.slice(0, 20)).toThrow(BAD)
    }
    expect(() => decodeToken(42 as any, NOW)).toThrow(BAD)
    expect(() => decodeToken(rawToken([1, 2]), NOW)).toThrow(BAD)
    const { token } = await rootToken()
    expect(() => encodeToken({ ...token, addrs: Array(MAX_TOKEN_BYTES).fill('/ip4/1.2.3.4/tcp/1') }, NOW)).toThrow(BAD)
  })

  it('checks every field it carries', async () => {
    const { token, root } = await rootToken()
    const other = await Identity.generate()
    const p2p = `/p2p/${root.id}`
    const cases: Array<Partial<JoinToken> & Record<string, unknown>> = [
      { addrs: Array(MAX_TOKEN_ADDRS + 1).fill(`/ip4/127.0.0.1/tcp/1${p2p}`) },
      { addrs: [`/dns4/${'a'.repeat(MAX_ADDR_LENGTH)}/tcp/1${p2p}`] },
      { addrs: ['/ip4/127.0.0.1/tcp/1'] },
      { addrs: ['not a multiaddr'] },
      { addrs: [7 as any] },
      { inviteKey: other.toBytes() },
      { inviteKey: new Uint8Array([1, 2, 3]) },
      { invite: new Uint8Array([1, 2, 3]) },
      { invite: makeGrant(root, token.mesh, other.publicKey, ['read'], {}, T0).bytes },
      { invite: makeGrant(other, token.mesh, other.publicKey, ['read'], { invite: true }, T0).bytes, inviteKey: other.toBytes() },
      { mesh: createMesh(root, T0) },
      { mesh: { ...token.mesh, createdAt: 1 } },
      { chain: [new Uint8Array(3)] },
      { chain: Array(9).fill(token.invite) },
      { extra: 1 }
    ]
    for (const change of cases) {
      expect(() => decodeToken(rawToken({ ...token, ...change }), NOW), JSON.stringify(Object.keys(change))).toThrow(BAD)
    }
  })

  it('refuses an expired invite', async () => {
    const { token } = await rootToken()
    const text = encodeToken(token, NOW)
    expect(() => decodeToken(text, T0 + 1 + 24 * 3600_000)).toThrow(BAD)
    expect(decodeToken(text, T0 + 24 * 3600_000).expiresAt).toBe(T0 + 1 + 24 * 3600_000)
  })
})
