import { describe, expect, it } from 'vitest'
import { Identity } from '../../../protocols/codec/index.js'
import { leaseKey, leaseSelector, makeLease, releaseLease, renewLease, selectLease } from '../../../protocols/lease/index.js'
import { payloadOf, rawLease } from './fixtures.js'

const JOB = '01'.repeat(32)
const KEY = leaseKey(JOB)

/** every ordering of `items` */
function permutations<T> (items: T[]): T[][] {
  if (items.length <= 1) return [items]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(rest => [item, ...rest]))
}

/** the record the selector picks, checked to be the same whatever order the records come in */
function picked (records: Uint8Array[]): Uint8Array {
  const choices = permutations(records).map(order => order[selectLease(KEY, order)])
  for (const choice of choices) expect(choice).toBe(choices[0])
  return choices[0]
}

describe('lease selector', () => {
  it('prefers the highest epoch whatever the times say', async () => {
    const a = await Identity.generate()
    const b = await Identity.generate()
    const old = makeLease(a, JOB, 1, 60_000, 1000).bytes
    const newer = makeLease(b, JOB, 2, 1_000, 500_000).bytes
    const newest = makeLease(a, JOB, 3, 1_000, 2000).bytes
    expect(picked([old, newer, newest])).toBe(newest)
    expect(picked([old, newer])).toBe(newer)
  })

  it('breaks an epoch tie by the earliest claim, then the lowest holder id', async () => {
    const a = await Identity.generate()
    const b = await Identity.generate()
    const first = makeLease(a, JOB, 4, 15_000, 1000).bytes
    const second = makeLease(b, JOB, 4, 15_000, 1001).bytes
    expect(picked([first, second])).toBe(first)
    const [low, high] = [a, b].sort((x, y) => x.id < y.id ? -1 : 1)
    const lowClaim = makeLease(low, JOB, 4, 15_000, 1000).bytes
    const highClaim = makeLease(high, JOB, 4, 15_000, 1000).bytes
    expect(picked([lowClaim, highClaim])).toBe(lowClaim)
  })

  it('keeps a renewed winner ahead of the rival it beat, and takes the holder\'s newest statement', async () => {
    const a = await Identity.generate()
    const b = await Identity.generate()
    const claim = makeLease(a, JOB, 5, 10_000, 1000)
    const rival = makeLease(b, JOB, 5, 10_000, 1001).bytes
    const renewed = renewLease(a, claim.payload, 10_000, 8000)
    const released = releaseLease(a, renewed.payload, 9000).bytes
    // the renewal was signed after the rival's claim, yet the claim it renews came first
    expect(picked([claim.bytes, rival, renewed.bytes])).toBe(renewed.bytes)
    expect(picked([claim.bytes, rival, renewed.bytes, released])).toBe(released)
  })

  it('ranks unparseable records and records of another job last', async () => {
    const a = await Identity.generate()
    const forger = await Identity.generate()
    const good = makeLease(a, JOB, 1, 1000, 1000).bytes
    const garbage = new Uint8Array([1, 2, 3])
    const forged = rawLease(forger, payloadOf(JOB, a.id, 9, 1000))
    const otherJob = makeLease(a, 'ff'.repeat(32), 9, 1000, 1000).bytes
    expect(picked([garbage, forged, otherJob, good])).toBe(good)
    expect(selectLease(KEY, [garbage, forged])).toBe(0)
    expect(leaseSelector(KEY, [garbage, good])).toBe(1)
  })

  it('picks the same record on every node for a shuffled set of rival claims', async () => {
    const ids = await Promise.all([1, 2, 3, 4].map(async () => await Identity.generate()))
    const records = ids.flatMap((id, i) => [makeLease(id, JOB, 6, 5000, 1000 + (i % 2)).bytes, makeLease(id, JOB, 5, 5000, 900).bytes])
    // epoch 6 claimed at 1000 by ids[0] and ids[2]: the lower holder id wins
    const expected = ids[0].id < ids[2].id ? records[0] : records[4]
    expect(picked(records.slice(0, 5))).toBe(expected)
  })
})
