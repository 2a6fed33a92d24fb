/**
 * Following a queued job's output: the follower waits for the start, and one who leaves first
 * leaves nothing behind (a real LevelDB and blob store in a temp dir).
 */
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FsBlobStore } from '../../../store/blobs/index.js'
import { silentLogger } from '../../../store/logger.js'
import { JobOutputs } from '../../../node/jobs/outputs.js'
import { validateJobSpec } from '../../../protocols/job/index.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import { waitFor } from '../../helpers/wait.js'
import type { JobService } from '../../../node/jobs/job-service.js'
import type { JobServiceOnDisk } from '../../helpers/job-service.js'

describe('JobOutputs', () => {
  let parts: JobServiceOnDisk
  let jobs: JobService
  let outputs: JobOutputs

  beforeEach(async () => {
    parts = await jobServiceOnDisk({ prefix: 'cit-outputs-' })
    jobs = parts.jobs
    const blobs = new FsBlobStore({}, { dir: join(parts.dir, 'blobs') })
    outputs = new JobOutputs({ jobs, blobs, self: parts.identity.id, logger: silentLogger })
  })
  afterEach(async () => { await parts.close() })

  it('a follower of a queued job that goes away stops waiting and leaves no listener behind', async () => {
    const { spec } = validateJobSpec({ name: 'waits', stages: [{ steps: ['true'] }] })
    const row = await jobs.submit({ spec: spec!, params: {} })
    const before = jobs.listenerCount('change')
    const gone = new AbortController()
    const following = outputs.output(row.id, true, gone.signal)
    await waitFor(() => jobs.listenerCount('change') === before + 1, { timeoutMs: 5000, what: 'the follower to wait for the start' })
    gone.abort(new Error('the viewer left'))
    await expect(following).rejects.toThrow('the viewer left')
    expect(jobs.listenerCount('change')).toBe(before)
    // a follower that stays gets the job once it has ended without running: an empty replay
    const staying = outputs.output(row.id, true)
    await jobs.transition(row.id, 'cancelled', { state: 'cancelled', reason: 'test' })
    expect((await staying).replay).toEqual([])
    expect(jobs.listenerCount('change')).toBe(before)
  })
})
