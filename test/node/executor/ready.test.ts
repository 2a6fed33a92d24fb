import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { waitFor } from '../../helpers/wait.js'
import { makeFixture, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'

const exists = async (p: string): Promise<boolean> => await access(p).then(() => true, () => false)

describe('Executor: a run prepared before it may start (`ready`)', () => {
  let fx: Fixture
  beforeEach(async () => { fx = await makeFixture() })
  afterEach(async () => { await fx.cleanup() })

  it('starts the first process only once ready resolves', async () => {
    let go!: () => void
    const ready = new Promise<void>(resolve => { go = resolve })
    const running = fx.executor.run({ jobId: 'r1', spec: spec('gated', [stage('s', [['mark', 'touch marker']])]), params: {}, ready })
    // the workspace is prepared meanwhile, but nothing runs in it
    await waitFor(async () => await exists(join(fx.workspaces, 'gated')), { timeoutMs: 5000, intervalMs: 10, what: 'the workspace to be prepared' })
    expect(await exists(join(fx.workspaces, 'gated'))).toBe(true)
    expect(await exists(join(fx.workspaces, 'gated', 'marker'))).toBe(false)
    go()
    const result = await running
    expect(result.outcome).toBe('succeeded')
    expect(await exists(join(fx.workspaces, 'gated', 'marker'))).toBe(true)
  })

  it('runs and keeps nothing when ready rejects: the run is called off (ERR_RUN_CALLED_OFF)', async () => {
    const ready = Promise.reject(new Error('cancelled before the start was recorded'))
    await expect(fx.executor.run({ jobId: 'r2', spec: spec('called-off', [stage('s', [['mark', 'touch marker']])]), params: {}, ready }))
      .rejects.toMatchObject({ code: 'ERR_RUN_CALLED_OFF' })
    expect(await exists(join(fx.workspaces, 'called-off', 'marker'))).toBe(false)
    // no recording was stored for it
    const stored: string[] = []
    for await (const blob of fx.blobs.list()) stored.push(blob.hash)
    expect(stored).toEqual([])
    // and the job id is free for a run at once
    const again = await fx.executor.run({ jobId: 'r2', spec: spec('called-off', [stage('s', [['mark', 'touch marker']])]), params: {} })
    expect(again.outcome).toBe('succeeded')
  })

  it('calls the run off when ready rejects while the run waits for its workspace', async () => {
    let hold!: () => void
    const holding = fx.executor.run({ jobId: 'r4a', spec: spec('shared', [stage('s', [['wait', 'sleep 0.3']])]), params: {}, ready: new Promise<void>(resolve => { hold = resolve }) })
    const controller = new AbortController()
    let shut!: (err: Error) => void
    const ready = new Promise<void>((_resolve, reject) => { shut = reject })
    const waiting = fx.executor.run({ jobId: 'r4b', spec: spec('shared', [stage('s', [['mark', 'touch marker']])]), params: {}, ready, signal: controller.signal })
    shut(new Error('the claim did not win'))
    controller.abort(new Error('the claim did not win'))
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_RUN_CALLED_OFF' })
    hold()
    expect((await holding).outcome).toBe('succeeded')
    expect(await exists(join(fx.workspaces, 'shared', 'marker'))).toBe(false)
  })

  it('runs nothing when the run is aborted while it waits', async () => {
    const controller = new AbortController()
    const ready = new Promise<void>(resolve => { setTimeout(resolve, 50) })
    controller.abort(new Error('handed over'))
    const result = await fx.executor.run({ jobId: 'r3', spec: spec('aborted', [stage('s', [['mark', 'touch marker']])]), params: {}, ready, signal: controller.signal })
    expect(result.outcome).toBe('cancelled')
    expect(await exists(join(fx.workspaces, 'aborted', 'marker'))).toBe(false)
  })
})
