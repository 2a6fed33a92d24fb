import { createHash, generateKeyPairSync, sign as nodeSign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { Identity, keyIdOf, open, recordId, seal, encodeCbor, decodeCbor, MAX_ENVELOPE_BYTES } from '../../../protocols/codec/index.js'

describe('signed envelopes', () => {
  it('round-trips a payload, names the signer, and takes its id from the signed content and its signer', async () => {
    const id = await Identity.generate()
    const signed = seal(id, 'job', { a: 1, b: 'two', c: new Uint8Array([1, 2]) })
    const opened = open(signed.bytes, { expectType: 'job' })
    expect(opened.payload).toEqual({ a: 1, b: 'two', c: new Uint8Array([1, 2]) })
    expect(opened.signer).toBe(id.id)
    const input = Buffer.concat([Buffer.from('cit-node/envelope/v1\0job\0'), encodeCbor({ a: 1, b: 'two', c: new Uint8Array([1, 2]) }), id.publicKey])
    expect(opened.hash).toBe(createHash('sha256').update(input).digest('hex'))
    expect(signed.hash).toBe(opened.hash)
    expect(recordId(signed.bytes)).toBe(opened.hash)
    expect(keyIdOf(id.publicKey)).toBe(id.id)
    expect(id.id).toMatch(/^12D3KooW/)
  })

  it('one message, one byte string: a re-encoded envelope or payload is refused as ERR_NON_CANONICAL', async () => {
    const id = await Identity.generate()
    const signed = seal(id, 'job', { a: 1, b: 'two' })
    const env = decodeCbor(signed.bytes, MAX_ENVELOPE_BYTES) as Record<string, unknown>
    // the same fields in another key order, and the version as a float16: valid CBOR, same meaning
    // (a longer integer is refused by the strict decoder already, as ERR_MALFORMED)
    const reordered = encode(env, { mapSorter: (a: any, b: any) => (a[0].value < b[0].value ? 1 : -1) })
    const longInt = new Uint8Array(signed.bytes)
    const vAt = Buffer.from(longInt).indexOf(Buffer.from([0x61, 0x76, 0x01]))
    expect(vAt).toBeGreaterThanOrEqual(0)
    const asFloat = Buffer.concat([longInt.subarray(0, vAt + 2), Buffer.from([0xf9, 0x3c, 0x00]), longInt.subarray(vAt + 3)])
    for (const bytes of [reordered, asFloat]) {
      expect(Buffer.from(bytes).equals(signed.bytes)).toBe(false)
      expect(() => open(bytes)).toThrow(expect.objectContaining({ code: 'ERR_NON_CANONICAL' }))
    }
    // a payload signed as is but not in canonical form: the signer's own re-encoding is refused too
    const p = encode({ b: 'two', a: 1 }, { mapSorter: () => 0 })
    const input = Buffer.concat([Buffer.from('cit-node/envelope/v1\0job\0'), p])
    const odd = encodeCbor({ v: 1, t: 'job', p, k: id.publicKey, s: id.sign(input) })
    expect(() => open(odd)).toThrow(expect.objectContaining({ code: 'ERR_NON_CANONICAL' }))
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
        expect(['ERR_MALFORMED', 'ERR_BAD_SIGNATURE', 'ERR_TOO_LARGE', 'ERR_NON_CANONICAL']).toContain(err.code)
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
