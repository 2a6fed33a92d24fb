import { describe, expect, it } from 'vitest'
import { Identity } from '../../../protocols/codec/index.js'
import {
  isJobId, jobOfLeaseKey, leaseKey, makeLease, MAX_LEASE_BYTES, MAX_LEASE_TTL_MS, parseLease, releaseLease, renewLease
} from '../../../protocols/lease/index.js'
import { payloadOf, rawLease, tamper } from './fixtures.js'

const JOB = 'ab'.repeat(32)

function codeOf (fn: () => unknown): { code?: string, reason?: string } {
  try {
    fn()
  } catch (err) {
    return err as { code?: string, reason?: string }
  }
  throw new Error('expected a throw')
}

describe('lease records', () => {
  it('seals a claim by the holder and parses it back verified', async () => {
    const id = await Identity.generate()
    const signed = makeLease(id, JOB, 3, 15_000, 1_000_000)
    expect(signed.type).toBe('lease')
    expect(signed.signer).toBe(id.id)
    expect(signed.bytes.byteLength).toBeLessThan(MAX_LEASE_BYTES / 2)
    expect(parseLease(signed.bytes)).toEqual({
      job: JOB, holder: id.id, epoch: 3, claimedAt: 1_000_000, renewedAt: 1_000_000, expiresAt: 1_015_000
    })
  })

  it('keeps the claim time when renewed and expires at once when released', async () => {
    const id = await Identity.generate()
    const claim = makeLease(id, JOB, 1, 10_000, 5_000).payload
    const renewed = parseLease(renewLease(id, claim, 10_000, 9_000).bytes)
    expect(renewed).toMatchObject({ epoch: 1, claimedAt: 5_000, renewedAt: 9_000, expiresAt: 19_000 })
    const released = parseLease(releaseLease(id, renewed, 12_000).bytes)
    expect(released).toMatchObject({ epoch: 1, claimedAt: 5_000, renewedAt: 12_000, expiresAt: 12_000 })
    const other = await Identity.generate()
    expect(codeOf(() => renewLease(other, claim, 10_000, 9_000)).code).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => releaseLease(other, claim, 9_000)).code).toBe('ERR_INVALID_ARGUMENT')
  })

  it('refuses bad arguments by name', async () => {
    const id = await Identity.generate()
    expect(codeOf(() => makeLease(id, 'AB'.repeat(32), 1, 1000, 0)).code).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => makeLease(id, 'ab', 1, 1000, 0)).code).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => makeLease(id, JOB, 0, 1000, 0)).code).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => makeLease(id, JOB, 1.5, 1000, 0)).code).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => makeLease(id, JOB, 1, 0, 0)).code).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => makeLease(id, JOB, 1, MAX_LEASE_TTL_MS + 1, 0)).code).toBe('ERR_INVALID_ARGUMENT')
    expect(codeOf(() => makeLease(id, JOB, 1, 1000, -5)).code).toBe('ERR_INVALID_ARGUMENT')
  })

  it('refuses a record signed by someone other than the holder', async () => {
    const holder = await Identity.generate()
    const forger = await Identity.generate()
    const err = codeOf(() => parseLease(rawLease(forger, { ...payloadOf(JOB, holder.id, 1, 1000) })))
    expect(err).toMatchObject({ code: 'ERR_INVALID_LEASE', reason: 'signer-not-holder' })
  })

  it('refuses a tampered record', async () => {
    const id = await Identity.generate()
    const bytes = makeLease(id, JOB, 1, 1000, 1000).bytes
    expect(codeOf(() => parseLease(tamper(bytes, { epoch: 99 })))).toMatchObject({ code: 'ERR_INVALID_LEASE', reason: 'bad-signature' })
    expect(codeOf(() => parseLease(tamper(bytes, { expiresAt: 10 ** 12 })))).toMatchObject({ reason: 'bad-signature' })
    // a flipped byte anywhere is refused, whatever the reason
    for (let i = 0; i < bytes.length; i++) {
      const copy = new Uint8Array(bytes)
      copy[i] ^= 0x01
      expect(codeOf(() => parseLease(copy)).code).toBe('ERR_INVALID_LEASE')
    }
  })

  it('refuses malformed payloads, other envelope types and oversized records', async () => {
    const id = await Identity.generate()
    const good = payloadOf(JOB, id.id, 1, 1000)
    const bad: Array<Record<string, unknown>> = [
      { ...good, extra: 1 },
      { ...good, epoch: 0 },
      { ...good, epoch: '1' },
      { ...good, job: 'xyz' },
      { ...good, claimedAt: -1 },
      { ...good, renewedAt: 500 },
      { ...good, expiresAt: 999 },
      { job: JOB, holder: id.id, epoch: 1 }
    ]
    for (const payload of bad) {
      expect(codeOf(() => parseLease(rawLease(id, payload))), JSON.stringify(payload)).toMatchObject({ code: 'ERR_INVALID_LEASE', reason: 'malformed' })
    }
    const { seal } = await import('../../../protocols/codec/index.js')
    expect(codeOf(() => parseLease(seal(id, 'event', good).bytes))).toMatchObject({ reason: 'malformed' })
    expect(codeOf(() => parseLease(new Uint8Array(MAX_LEASE_BYTES + 1)))).toMatchObject({ reason: 'too-large' })
    expect(codeOf(() => parseLease(new Uint8Array([1, 2, 3])))).toMatchObject({ reason: 'malformed' })
  })

  it('maps job ids to keys and back, refusing anything else', () => {
    expect(new TextDecoder().decode(leaseKey(JOB))).toBe(`/lease/${JOB}`)
    expect(jobOfLeaseKey(leaseKey(JOB))).toBe(JOB)
    for (const key of [`/lease/${JOB.toUpperCase()}`, `/lease/${JOB}0`, `/lease/${JOB.slice(1)}`, `/other/${JOB}`, `/lease/${JOB.slice(2)}//`]) {
      expect(jobOfLeaseKey(new TextEncoder().encode(key)), key).toBeUndefined()
    }
    expect(isJobId(JOB)).toBe(true)
    expect(isJobId(JOB + 'a')).toBe(false)
    expect(codeOf(() => leaseKey('nope')).code).toBe('ERR_INVALID_ARGUMENT')
  })
})
