import { describe, expect, it } from 'vitest'
import { refusal } from '../../../node/jobs/authority.js'
import type { JobEvent } from '../../../protocols/job/records.js'
import type { JobRow } from '../../../node/jobs/types.js'

const row = { id: 'j', submitter: 'alice', state: 'queued', epoch: 0 } as unknown as JobRow
const cancel = (node: string, at: number): JobEvent => ({ job: 'j', type: 'cancelled', node, at, state: 'cancelled' } as unknown as JobEvent)

describe('event authority', () => {
  /** bob was an admin from t=100 to t=200 (then revoked): what the records say whenever asked */
  const bobAdmin = (key: string, at: number): boolean => key === 'bob' && at >= 100 && at < 200

  it('a cancel counts from the submitter, or from a key that held admin when it signed, whenever it is judged', () => {
    expect(refusal(row, cancel('alice', 50), bobAdmin)).toBeUndefined()
    expect(refusal(row, cancel('bob', 150), bobAdmin)).toBeUndefined()
    // before the grant, and from anyone else: not the owner's to do
    expect(refusal(row, cancel('bob', 50), bobAdmin)).toBe('not-owner')
    expect(refusal(row, cancel('mallory', 150), bobAdmin)).toBe('not-owner')
  })

  it('asks about the time the event was signed, not the time it is applied', () => {
    const asked: number[] = []
    refusal(row, cancel('bob', 150), (_key, at) => { asked.push(at); return true })
    expect(asked).toEqual([150])
  })
})
