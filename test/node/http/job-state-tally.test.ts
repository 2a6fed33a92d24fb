import { describe, expect, it } from 'vitest'
import { ENDED_IDS_KEPT, JobStateTally } from '../../../node/http/metrics.js'

describe('JobStateTally: the cit_jobs gauge\'s jobs by state', () => {
  it('counts every job it has seen end, holding ids only of unfinished jobs and the last ended ones', () => {
    const tally = new JobStateTally()
    const jobs = 3 * ENDED_IDS_KEPT
    for (let i = 0; i < jobs; i++) {
      const id = `job-${i}`
      tally.note(id, 'queued')
      tally.note(id, 'running')
      tally.note(id, i % 3 === 0 ? 'failed' : 'succeeded')
    }
    tally.note('still-queued', 'queued')
    tally.note('running-now', 'running')
    expect(tally.counts()).toMatchObject({ succeeded: 2 * ENDED_IDS_KEPT, failed: ENDED_IDS_KEPT, queued: 1, running: 1 })
    // it held all of them before, and grew with every job a daemon saw
    expect(tally.size).toBeLessThanOrEqual(ENDED_IDS_KEPT + 2)
  })

  it('does not count a late event of a recently ended job again, nor reopen it', () => {
    const tally = new JobStateTally(8)
    tally.note('a', 'running')
    tally.note('a', 'succeeded')
    // a peer's lease-lost of an earlier run, recorded after the result: the row is still succeeded
    tally.note('a', 'succeeded')
    tally.note('a', 'running')
    expect(tally.counts()).toMatchObject({ succeeded: 1, running: 0 })
    expect(tally.has('a')).toBe(true)
  })
})
