import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../../protocols/codec/index.js'
import { isFinal } from '../../../protocols/job/records.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import type { JobService } from '../../../node/jobs/job-service.js'
import type { JobStore } from '../../../node/jobs/job-store.js'
import type { JobServiceOnDisk } from '../../helpers/job-service.js'
import type { JobEvent, JobResult } from '../../../protocols/job/records.js'
import type { JobSpec } from '../../../protocols/job/types.js'
import type { EventView, JobView } from '../../../node/jobs/types.js'

const spec = { name: 'x', priority: 0, timeoutMs: 60000, requires: { labels: [], cores: 1, memoryBytes: 0 }, params: {}, supersede: 'waiting', cache: false, stages: [{ title: 's', steps: [{ title: 't', command: 'true', ignoreExitCode: false }] }], artefacts: [] } as unknown as JobSpec
const result: JobResult = { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log: 'ab'.repeat(32), artefacts: [] }
/** how long the reader stays paused when nothing else moves (the fixed code: the write waits for the read) */
const PAUSE_MS = 300

const types = (v: JobView): string[] => v.events.map(e => e.type)

describe('JobService.view: the state and the events of one document agree', () => {
  let parts: JobServiceOnDisk
  let store: JobStore
  let jobs: JobService

  beforeEach(async () => {
    parts = await jobServiceOnDisk({ prefix: 'cit-view-' })
    ;({ store, jobs } = parts)
  })
  afterEach(async () => { await parts.close() })

  /**
   * Pause every read of a job's events just after the store answered, until `release` is called:
   * the window in which, under load, a result lands while a `show` is half done.
   */
  function pauseEventReads (): { read: Promise<void>, release: () => void } {
    const original = store.events.bind(store)
    let release!: () => void
    let signalRead!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const read = new Promise<void>(resolve => { signalRead = resolve })
    store.events = async (id: string): Promise<EventView[]> => {
      const out = await original(id)
      signalRead()
      await gate
      return out
    }
    return { read, release }
  }

  it('a result recorded while a view reads the events: a final state is shown with its finished event, never without it', async () => {
    const row = await jobs.submit({ spec, params: {} })
    await jobs.transition(row.id, 'started', { state: 'running', epoch: 1 })
    const pause = pauseEventReads()
    const viewing = jobs.view(await jobs.get(row.id) as never)
    await pause.read
    // the result arrives while the view has its events but not yet the state
    const finishing = jobs.transition(row.id, 'finished', { state: 'succeeded', result, epoch: 1 })
    await Promise.race([finishing, new Promise(resolve => setTimeout(resolve, PAUSE_MS))])
    pause.release()
    const [view] = await Promise.all([viewing, finishing])
    // either the view came before the result (running, no finished) or after it (both): never half
    expect(types(view).includes('finished'), `${view.state}: ${types(view).join(' ')}`).toBe(isFinal(view.state))
    expect(view.executor).toBe(isFinal(view.state) ? jobs.nodeId : view.executor)
    // and once the result is recorded, a view shows both
    const after = await jobs.view((await jobs.get(row.id))!)
    expect(after.state).toBe('succeeded')
    expect(types(after)).toEqual(['submitted', 'started', 'finished'])
    expect(after.log).toBe(result.log)
  })

  it('a peer\'s result ingested while a view reads the events: the same, for the path a watching node takes', async () => {
    const peer = await Identity.generate()
    const row = await jobs.submit({ spec, params: {} })
    const started: JobEvent = { job: row.id, type: 'started', node: peer.id, at: Date.now(), state: 'running', epoch: 1 }
    expect(await jobs.ingestEvent(seal(peer, 'event', started))).toBe(true)
    const pause = pauseEventReads()
    const viewing = jobs.view((await jobs.get(row.id))!)
    await pause.read
    const finished: JobEvent = { job: row.id, type: 'finished', node: peer.id, at: started.at + 1, state: 'succeeded', result, epoch: 1 }
    const ingesting = jobs.ingestEvent(seal(peer, 'event', finished))
    await Promise.race([ingesting, new Promise(resolve => setTimeout(resolve, PAUSE_MS))])
    pause.release()
    const [view] = await Promise.all([viewing, ingesting])
    expect(types(view).includes('finished'), `${view.state}: ${types(view).join(' ')}`).toBe(isFinal(view.state))
    const after = await jobs.view((await jobs.get(row.id))!)
    expect([after.state, after.executor]).toEqual(['succeeded', peer.id])
    expect(types(after)).toEqual(['submitted', 'started', 'finished'])
  })

  it('a view of a row read before a result landed shows the job as it is now, with every event', async () => {
    const row = await jobs.submit({ spec, params: {} })
    await jobs.transition(row.id, 'started', { state: 'running', epoch: 1 })
    // a copy read earlier (a final job is read from the store, a caller may hold an old copy)
    const old = structuredClone((await jobs.get(row.id))!)
    await jobs.transition(row.id, 'finished', { state: 'succeeded', result, epoch: 1 })
    const view = await jobs.view(old)
    expect(view.state).toBe('succeeded')
    expect(types(view)).toEqual(['submitted', 'started', 'finished'])
  })
})
