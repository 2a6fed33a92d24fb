import { describe, expect, it } from 'vitest'
import { Identity } from '../../../protocols/codec/index.js'
import {
  checkLease, CLOCK_SKEW_MS, LEASE_RETAIN_MS, leaseKey, leaseValidator, makeLease, MAX_LEASE_TTL_MS
} from '../../../protocols/lease/index.js'
import { payloadOf, rawLease, tamper } from './fixtures.js'

const JOB = 'cd'.repeat(32)
const OTHER = 'ef'.repeat(32)
const NOW = 1_800_000_000_000

function rejection (fn: () => unknown): { code?: string, reason?: string } {
  try {
    fn()
  } catch (err) {
    return err as { code?: string, reason?: string }
  }
  throw new Error('expected a rejection')
}

describe('lease validator', () => {
  const builders = new Set<string>()
  const isBuilder = (peer: string): boolean => builders.has(peer)
  const rules = { now: () => NOW }

  it('accepts a live claim by a builder under its own key', async () => {
    const id = await Identity.generate()
    builders.add(id.id)
    const { bytes } = makeLease(id, JOB, 2, 15_000, NOW)
    expect(checkLease(leaseKey(JOB), bytes, isBuilder, rules)).toMatchObject({ job: JOB, holder: id.id, epoch: 2 })
    expect(() => { leaseValidator(isBuilder, rules)(leaseKey(JOB), bytes) }).not.toThrow()
  })

  it('refuses each broken rule with its reason', async () => {
    const id = await Identity.generate()
    const outsider = await Identity.generate()
    builders.add(id.id)
    const key = leaseKey(JOB)
    const valid = makeLease(id, JOB, 1, 15_000, NOW).bytes
    const cases: Array<[string, Uint8Array, Uint8Array]> = [
      ['key-mismatch', leaseKey(OTHER), valid],
      ['bad-key', new TextEncoder().encode(`/lease/${JOB}/x`), valid],
      ['bad-signature', key, tamper(valid, { holder: outsider.id })],
      ['signer-not-holder', key, rawLease(outsider, payloadOf(JOB, id.id, 1, NOW))],
      ['not-builder', key, makeLease(outsider, JOB, 1, 15_000, NOW).bytes],
      ['ttl', key, rawLease(id, payloadOf(JOB, id.id, 1, NOW, MAX_LEASE_TTL_MS + 1))],
      ['future', key, makeLease(id, JOB, 1, 15_000, NOW + CLOCK_SKEW_MS + 1).bytes],
      ['expired', key, makeLease(id, JOB, 1, 15_000, NOW - LEASE_RETAIN_MS - 15_001).bytes],
      ['malformed', key, new Uint8Array([0xa0])]
    ]
    const validate = leaseValidator(isBuilder, rules)
    for (const [reason, k, v] of cases) {
      expect(rejection(() => checkLease(k, v, isBuilder, rules)), reason).toMatchObject({ code: 'ERR_INVALID_LEASE', reason })
      expect(rejection(() => validate(k, v)), reason).toMatchObject({ reason })
    }
  })

  it('accepts a lease signed a little in the future and one expired within the retention', async () => {
    const id = await Identity.generate()
    builders.add(id.id)
    const key = leaseKey(JOB)
    expect(checkLease(key, makeLease(id, JOB, 1, 15_000, NOW + CLOCK_SKEW_MS).bytes, isBuilder, rules).epoch).toBe(1)
    // expired, but still readable so the next claim continues the epoch sequence
    const expired = makeLease(id, JOB, 7, 15_000, NOW - LEASE_RETAIN_MS - 15_000).bytes
    expect(checkLease(key, expired, isBuilder, rules).epoch).toBe(7)
    expect(rejection(() => checkLease(key, expired, isBuilder, { now: () => NOW + 1 }))).toMatchObject({ reason: 'expired' })
  })

  it('asks the trust callback about the holder, so revocation applies to records read later', async () => {
    const id = await Identity.generate()
    builders.add(id.id)
    const { bytes } = makeLease(id, JOB, 1, 15_000, NOW)
    expect(() => checkLease(leaseKey(JOB), bytes, isBuilder, rules)).not.toThrow()
    builders.delete(id.id)
    expect(rejection(() => checkLease(leaseKey(JOB), bytes, isBuilder, rules))).toMatchObject({ reason: 'not-builder' })
  })

  it('requires a callback', () => {
    expect(() => leaseValidator(undefined as unknown as () => boolean)).toThrow(TypeError)
  })
})
