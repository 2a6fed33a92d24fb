import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AttachJobsAdapter, attachPolicy } from '../../../node/attach/index.js'
import { Identity } from '../../../protocols/codec/index.js'
import { AttachService } from '../../../protocols/attach/index.js'
import { createMesh, makeGrant, TrustState } from '../../../protocols/trust/index.js'
import { makeFixture, spec, stage } from '../executor/helpers.js'
import { TestMesh } from '../../protocols/net/helpers.js'
import { Viewer } from '../../protocols/attach/helpers.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import type { JobService } from '../../../node/jobs/job-service.js'
import type { JobServiceOnDisk } from '../../helpers/job-service.js'
import type { Fixture } from '../executor/helpers.js'
import type { JobRow } from '../../../node/jobs/types.js'

describe('attachPolicy: who may attach how, from real trust records', () => {
  it('ro for read, admin and the submitter; rw for the submitter and admin only', async () => {
    const [root, reader, submitter, builder] = await Promise.all([0, 1, 2, 3].map(async () => await Identity.generate()))
    const now = Date.now()
    const mesh = createMesh(root, now - 1000)
    const trust = new TrustState({ mesh })
    expect(trust.add(makeGrant(root, mesh, reader.publicKey, ['read'], {}, now - 900).bytes)).toMatchObject({ accepted: true })
    expect(trust.add(makeGrant(root, mesh, submitter.publicKey, ['submit'], {}, now - 800).bytes)).toMatchObject({ accepted: true })
    expect(trust.add(makeGrant(root, mesh, builder.publicKey, ['build'], {}, now - 700).bytes)).toMatchObject({ accepted: true })
    const authorize = attachPolicy({ trust, submitterOf: job => job === 'theirs' ? submitter.id : job === 'other' ? builder.id : undefined })

    const verdict = async (who: Identity, job: string, mode: 'ro' | 'rw'): Promise<boolean> => (await authorize(who.id, job, mode)).ok
    expect(await verdict(reader, 'theirs', 'ro')).toBe(true)
    expect(await verdict(reader, 'theirs', 'rw')).toBe(false)
    expect(await verdict(submitter, 'theirs', 'ro')).toBe(true)
    expect(await verdict(submitter, 'theirs', 'rw')).toBe(true)
    expect(await verdict(submitter, 'other', 'ro')).toBe(false)
    expect(await verdict(submitter, 'other', 'rw')).toBe(false)
    expect(await verdict(root, 'other', 'rw')).toBe(true)
    expect(await verdict(builder, 'theirs', 'ro')).toBe(false)
    expect(await verdict(builder, 'unknown', 'rw')).toBe(false)
  })
})

describe('AttachJobsAdapter: the daemon\'s JobService and Executor behind the attach service', () => {
  let parts: JobServiceOnDisk
  let jobs: JobService
  let fixture: Fixture
  let mesh: TestMesh
  let service: AttachService
  let identity: Identity
  const runs: Array<Promise<unknown>> = []

  beforeEach(async () => {
    parts = await jobServiceOnDisk({ prefix: 'cit-attach-node-' })
    ;({ jobs, identity } = parts)
    fixture = await makeFixture()
    mesh = new TestMesh()
    const node = await mesh.node(identity)
    const trust = new TrustState({ mesh: createMesh(identity) })
    service = new AttachService({
      libp2p: node,
      jobs: new AttachJobsAdapter({ jobs, executor: fixture.executor }),
      authorize: attachPolicy({ trust, submitterOf: async id => (await jobs.get(id))?.submitter })
    })
    await service.start()
  })

  afterEach(async () => {
    await service.stop()
    await Promise.allSettled(runs.splice(0))
    await mesh.stop()
    await fixture.cleanup()
    await parts.close()
  })

  /** what the scheduler's runner does: claim, start, run with live output, record the result, end the output */
  async function run (command: string): Promise<JobRow> {
    const row = await jobs.submit({ spec: spec('attached', [stage('main', [['step', command]])]), params: {} })
    await jobs.transition(row.id, 'claimed', { state: 'claimed' })
    await jobs.transition(row.id, 'started', { state: 'running' })
    const live = jobs.liveOutput(row.id, true)!
    runs.push(fixture.executor.run({ jobId: row.id, spec: row.spec, params: {}, onOutput: data => { live.push(data) } })
      .then(async result => {
        await jobs.transition(row.id, 'finished', {
          state: result.outcome,
          result: { state: result.outcome, exitCode: result.exitCode, reason: result.reason, usage: result.usage, log: result.log, artefacts: result.artefacts }
        })
      })
      .finally(() => { jobs.endLiveOutput(row.id) }))
    return row
  }

  it('the submitter types into its job, resizes it, and sees the final state recorded by the job service', async () => {
    const row = await run('echo ready; read line; stty size; echo "got:$line"; exit 4')
    const viewer = new Viewer(await service.attachLocal(identity.id, row.id, 'rw')).start()
    // the executor's default size until someone resizes
    expect([viewer.session.cols, viewer.session.rows]).toEqual([120, 40])
    await viewer.waitForText('ready')
    await viewer.session.resize(70, 21)
    await viewer.session.write('typed\r')
    await viewer.waitForText('got:typed')
    expect(viewer.text).toContain('21 70')
    await viewer.waitForEnd()
    expect(viewer.end).toMatchObject({ state: 'failed', exitCode: 4, reason: expect.stringContaining('exited with 4') })
    expect((await jobs.get(row.id))?.state).toBe('failed')
    await expect(service.attachLocal(identity.id, row.id, 'ro')).rejects.toMatchObject({ code: 'ERR_NOT_RUNNING' })
  })
})
