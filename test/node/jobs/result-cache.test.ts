import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../../protocols/codec/index.js'
import { inputKey } from '../../../protocols/job/input-key.js'
import { silentLogger } from '../../../store/logger.js'
import { JobService } from '../../../node/jobs/job-service.js'
import { JobStore } from '../../../node/jobs/job-store.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import type { JobServiceOnDisk } from '../../helpers/job-service.js'
import type { JobEvent, JobResult } from '../../../protocols/job/records.js'
import type { JobSpec } from '../../../protocols/job/types.js'
import type { JobRow, JobView } from '../../../node/jobs/types.js'

function specOf (command: string, cache = true): JobSpec {
  return { name: 'cached', priority: 0, timeoutMs: 60000, requires: { labels: [], cores: 1, memoryBytes: 0 }, params: {}, supersede: 'waiting', cache, stages: [{ title: 's', steps: [{ title: 't', command, ignoreExitCode: false }] }], artefacts: [] } as unknown as JobSpec
}
const result: JobResult = { state: 'succeeded', exitCode: 0, usage: { wallMs: 8500, cpuMs: 1, maxRssBytes: 1 }, log: 'ab'.repeat(32), artefacts: [] }
const types = (v: JobView): string[] => v.events.map(e => e.type)

describe('the result cache: a hit is stored finished in one synced write, and only a matching entry is used', () => {
  let parts: JobServiceOnDisk
  let store: JobStore
  let jobs: JobService
  let identity: Identity

  beforeEach(async () => {
    parts = await jobServiceOnDisk({ prefix: 'cit-rcache-' })
    ;({ store, jobs, identity } = parts)
  })
  afterEach(async () => { await parts.close() })

  /** a job of `spec` run to success here: the result cache remembers it */
  async function ran (spec: JobSpec): Promise<JobRow> {
    const row = await jobs.submit({ spec, params: {} })
    await jobs.transition(row.id, 'started', { state: 'running', epoch: 1 })
    await jobs.transition(row.id, 'finished', { state: 'succeeded', result, epoch: 1 })
    return (await jobs.get(row.id))!
  }

  it('a hit is stored finished with its two events, as a fresh read of the store shows them', async () => {
    const first = await ran(specOf('echo built'))
    const cached = await jobs.cachedResult(specOf('echo built'), {})
    expect(cached?.from).toBe(first.id)
    const hit = await jobs.submit({ spec: specOf('echo built'), params: {}, cached })
    const shown = await jobs.view(hit)
    expect([shown.state, shown.cacheHit, shown.cachedFrom, shown.executor, shown.log]).toEqual(['succeeded', true, first.id, identity.id, result.log])
    expect(types(shown)).toEqual(['submitted', 'finished'])
    // on disk as shown: a fresh service over the same store reads the same document
    const fresh = new JobService({ identity, store: new JobStore(parts.meta, parts.log), logger: silentLogger })
    const reread = await fresh.view((await fresh.get(hit.id))!)
    expect(reread.events).toEqual(shown.events)
    expect([reread.state, reread.cacheHit, reread.cachedFrom]).toEqual(['succeeded', true, first.id])
  })

  it('the document a submission answers with is the one the store gives back, for a hit and for a queued job', async () => {
    const first = await ran(specOf('echo built'))
    const hit = await jobs.submitWithView({ spec: specOf('echo built'), params: {}, cached: await jobs.cachedResult(specOf('echo built'), {}) })
    expect([hit.view.state, hit.view.cacheHit, hit.view.cachedFrom, hit.view.executor]).toEqual(['succeeded', true, first.id, identity.id])
    const fresh = new JobService({ identity, store: new JobStore(parts.meta, parts.log), logger: silentLogger })
    expect(hit.view).toEqual(await fresh.view((await fresh.get(hit.row.id))!))
    const queued = await jobs.submitWithView({ spec: specOf('echo new', false), params: {} })
    expect([queued.view.state, types(queued.view)]).toEqual(['queued', ['submitted']])
    expect(queued.view).toEqual(await fresh.view((await fresh.get(queued.row.id))!))
    // a change after the submission does not reach the document it answered with
    await jobs.transition(queued.row.id, 'started', { state: 'running', epoch: 1 })
    expect(queued.view.state).toBe('queued')
    expect(types(queued.view)).toEqual(['submitted'])
  })

  it('a hit\'s answer names the node that ran the job, also when the index names an earlier hit of it', async () => {
    // the job ran on a peer: its announcement and result are that peer's records
    const peer = await Identity.generate()
    const announced = seal(peer, 'job', { spec: specOf('echo built'), params: {}, priority: 0, submittedAt: Date.now(), node: peer.id, nonce: '00'.repeat(8) })
    expect(await jobs.ingestAnnouncement(announced)).toBe(true)
    const finished: JobEvent = { job: announced.hash, type: 'finished', node: peer.id, at: Date.now() + 1, state: 'succeeded', result, epoch: 1 }
    expect(await jobs.ingestEvent(seal(peer, 'event', finished))).toBe(true)
    const fresh = new JobService({ identity, store: new JobStore(parts.meta, parts.log), logger: silentLogger })
    const first = await jobs.submitWithView({ spec: specOf('echo built'), params: {}, cached: await jobs.cachedResult(specOf('echo built'), {}) })
    expect([first.view.cachedFrom, first.view.executor]).toEqual([announced.hash, peer.id])
    expect(first.view).toEqual(await fresh.view((await fresh.get(first.row.id))!))
    // a member that heard of that hit points its index at the hit, whose own `finished` this node signed
    await store.rememberResult(inputKey(specOf('echo built'), {}), first.row.id)
    const second = await jobs.submitWithView({ spec: specOf('echo built'), params: {}, cached: await jobs.cachedResult(specOf('echo built'), {}) })
    expect([second.view.cachedFrom, second.view.executor]).toEqual([announced.hash, peer.id])
    expect(second.view).toEqual(await fresh.view((await fresh.get(second.row.id))!))
  })

  it('an event recorded later for a finished hit shows in the next view, and changes nothing', async () => {
    const first = await ran(specOf('echo built'))
    const hit = await jobs.submit({ spec: specOf('echo built'), params: {}, cached: await jobs.cachedResult(specOf('echo built'), {}) })
    expect(types(await jobs.view(hit))).toEqual(['submitted', 'finished'])
    const late: JobEvent = { job: hit.id, type: 'cancel-requested', node: identity.id, at: Date.now() + 5, reason: 'late' }
    expect(await jobs.ingestEvent(seal(identity, 'event', late))).toBe(true)
    const after = await jobs.view(hit)
    expect(types(after)).toEqual(['submitted', 'finished', 'cancel-requested'])
    // a finished job stays finished
    expect([after.state, after.cachedFrom]).toEqual(['succeeded', first.id])
  })

  it('an index entry naming a job with other inputs (tampered, or another job\'s) is not used', async () => {
    const other = await ran(specOf('echo other'))
    const key = inputKey(specOf('echo built'), {})
    await store.rememberResult(key, other.id)
    expect(await jobs.cachedResult(specOf('echo built'), {})).toBeUndefined()
    // the same from disk, as a restarted node reads it
    const fresh = new JobService({ identity, store: new JobStore(parts.meta, parts.log), logger: silentLogger })
    expect(await fresh.store.resultFor(key)).toBe(other.id)
    expect(await fresh.cachedResult(specOf('echo built'), {})).toBeUndefined()
    // its own entry still serves the job it names
    expect((await fresh.cachedResult(specOf('echo other'), {}))?.from).toBe(other.id)
  })

  it('an entry naming an unknown job, an unfinished one or one not marked cacheable is not used', async () => {
    const key = inputKey(specOf('echo built'), {})
    await store.rememberResult(key, 'f'.repeat(64))
    expect(await jobs.cachedResult(specOf('echo built'), {})).toBeUndefined()
    const queued = await jobs.submit({ spec: specOf('echo built'), params: {} })
    await store.rememberResult(key, queued.id)
    expect(await jobs.cachedResult(specOf('echo built'), {})).toBeUndefined()
    // same commands, cache: false: its result was never offered for reuse
    const uncached = await ran(specOf('echo built', false))
    await store.rememberResult(inputKey(specOf('echo built', false), {}), uncached.id)
    expect(await jobs.cachedResult(specOf('echo built', false), {})).toBeUndefined()
  })

  it('the index follows its writes: a newer result replaces the older one', async () => {
    const key = inputKey(specOf('echo built'), {})
    const older = await ran(specOf('echo built'))
    expect(await store.resultFor(key)).toBe(older.id)
    const newer = await ran(specOf('echo built'))
    expect(await store.resultFor(key)).toBe(newer.id)
    expect(await new JobStore(parts.meta, parts.log).resultFor(key)).toBe(newer.id)
    expect((await jobs.cachedResult(specOf('echo built'), {}))?.from).toBe(newer.id)
  })
})
