/**
 * The repair decision of a download that did not verify: which ranges are asked again, of whom.
 * A unit seam (no transfer): the plan is pure bookkeeping.
 */
import { describe, expect, it } from 'vitest'
import { RangePlan } from '../../../node/artefacts/range-plan.js'
import type { DoneRange } from '../../../node/artefacts/part-file.js'

const MiB = 1024 * 1024

function plan (done: Array<[number, DoneRange]>): RangePlan {
  return new RangePlan(3 * MiB, MiB, new Map(done))
}

describe('RangePlan.reopenForRepair', () => {
  it('reopens every unconfirmed range for a holder that has not sent it', () => {
    const p = plan([[0, { holder: 'a', sha256: 'x0' }], [1, { holder: 'a', sha256: 'x1' }], [2, { holder: 'b', sha256: 'x2' }]])
    expect(p.reopenForRepair(['a', 'b'])).toEqual([0, 1, 2])
    expect(p.nextFor('b')).toBe(0)
    expect(p.nextFor('a')).toBe(2)
  })

  it('a download resumed from a holder that has gone: its range is asked of the one left, whose own ranges keep their bytes', () => {
    // the executor sent range 1 (wrong) and is not a holder any more; the copy sent ranges 0 and 2
    const p = plan([[0, { holder: 'copy', sha256: 'c0' }], [1, { holder: 'executor', sha256: 'e1' }], [2, { holder: 'copy', sha256: 'c2' }]])
    expect(p.reopenForRepair(['copy'])).toEqual([1])
    expect(p.nextFor('copy')).toBe(1)
    expect(p.pendingCount).toBe(1)
  })

  it('nothing to reopen when every suspect was sent by every holder left: the download cannot be repaired from them', () => {
    const p = plan([[0, { holder: 'a', sha256: 'x0' }], [1, { holder: 'a', sha256: 'x1' }], [2, { holder: 'a', sha256: 'x2' }]])
    expect(p.reopenForRepair(['a'])).toEqual([])
    expect(p.pendingCount).toBe(0)
  })

  it('ranges two holders confirmed are suspects only when every range was confirmed', () => {
    const p = plan([[0, { holder: 'a', sha256: 'x0' }], [1, { holder: 'a', sha256: 'x1' }], [2, { holder: 'a', sha256: 'x2' }]])
    expect(p.reopenForRepair(['a', 'b'])).toEqual([0, 1, 2])
    for (let i = 0; i < 3; i++) {
      p.begin(i, 'b')
      p.complete(i, 'b', `x${i}`)
    }
    // a and b sent the same bytes for every range, and the whole still did not verify: a third holder is asked
    expect(p.reopenForRepair(['a', 'b', 'c'])).toEqual([0, 1, 2])
    expect(p.nextFor('a')).toBeUndefined()
    expect(p.nextFor('c')).toBe(0)
  })
})
