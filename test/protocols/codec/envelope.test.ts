import { createHash, generateKeyPairSync, sign as nodeSign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { Identity, keyIdOf, open, seal, encodeCbor, decodeCbor, MAX_ENVELOPE_BYTES } from '../../../protocols/codec/index.js'

describe('signed envelopes', () => {
  it('round-trips a payload, names the signer and hashes the exact bytes', async () => {
    const id = await Identity.generate()
    const signed = seal(id, 'job', { a: 1, b: 'two', c: new Uint8Array([1, 2]) })
    const opened = open(signed.bytes, { expectType: 'job' })
    expect(opened.payload).toEqual({ a: 1, b: 'two', c: new Uint8Array([1, 2]) })
    expect(opened.signer).toBe(id.id)
    expect(opened.hash).toBe(createHash('sha256').update(signed.bytes).digest('hex'))
    expect(keyIdOf(id.publicKey)).toBe(id.id)
    expect(id.id).toMatch(/^12D3KooW/)
  })

  it('encodes deterministically whatever the key order', () => {
    expect(encodeCbor({ b: 1, a: 2 })).toEqual(encodeCbor({ a: 2, b: 1 }))
  })

  it('refuses a flipped byte anywhere in the envelope', async () => {
    const id = await Identity.generate()
    const { bytes } = seal(id, 'event', { job: 'x', n: 42 })
    let refused = 0
    for (let i = 0; i < bytes.length; i++) {
      const copy = new Uint8Array(bytes)
      copy[i] ^= 0x01
      try {
        open(copy)
      } catch (err: any) {
        expect(['ERR_MALFORMED', 'ERR_BAD_SIGNATURE', 'ERR_TOO_LARGE']).toContain(err.code)
        refused++
      }
    }
    expect(refused).toBe(bytes.length)
  })

  it('refuses a payload re-signed under another type (domain separation)', async () => {
    const id = await Identity.generate()
    const signed = seal(id, 'job', { x: 1 })
    const env = decodeCbor(signed.bytes, MAX_ENVELOPE_BYTES) as any
    const swapped = encode({ ...env, t: 'event' })
    expect(() => open(swapped)).toThrow(expect.objectContaining({ code: 'ERR_BAD_SIGNATURE' }))
    expect(() => open(signed.bytes, { expectType: 'event' })).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
  })

  it('refuses oversized, non-CBOR and wrongly shaped input with typed errors', async () => {
    expect(() => open(new Uint8Array(MAX_ENVELOPE_BYTES + 1))).toThrow(expect.objectContaining({ code: 'ERR_TOO_LARGE' }))
    expect(() => open(new Uint8Array([0xff, 0x00, 0x13]))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => open(encode([1, 2, 3]))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => open(encode({ v: 1, t: 'job', p: new Uint8Array(1), k: new Uint8Array(31), s: new Uint8Array(64) }))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    const id = await Identity.generate()
    const env = decodeCbor(seal(id, 'job', {}).bytes, MAX_ENVELOPE_BYTES) as any
    expect(() => open(encode({ ...env, extra: 1 }))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
  })

  it('verifies signatures made by another Ed25519 implementation over the same bytes', async () => {
    // the signature scheme is plain Ed25519: a key made by node:crypto directly produces envelopes we accept
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
    const p = encodeCbor({ hello: 'world' })
    const input = Buffer.concat([Buffer.from('cit-node/envelope/v1\0'), Buffer.from('job'), Buffer.from([0]), p])
    const s = nodeSign(null, input, privateKey)
    const bytes = encodeCbor({ v: 1, t: 'job', p, k: new Uint8Array(raw), s: new Uint8Array(s) })
    expect(open(bytes).payload).toEqual({ hello: 'world' })
  })

  it('an identity survives a round trip through its stored bytes', async () => {
    const id = await Identity.generate()
    const again = Identity.fromBytes(id.toBytes())
    expect(again.id).toBe(id.id)
    const signed = seal(again, 'x', { n: 1 })
    expect(open(signed.bytes).signer).toBe(id.id)
  })
})
