import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { makeFixture, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'
import type { ProgressEvent } from '../../../node/executor/index.js'

describe('Executor: stages, steps and hooks', () => {
  let fx: Fixture
  beforeEach(async () => { fx = await makeFixture() })
  afterEach(async () => { await fx.cleanup() })

  const lines = async (name: string, file: string): Promise<string[]> =>
    (await readFile(join(fx.workspaces, name, file), 'utf8')).split('\n').filter(Boolean)

  it('runs every stage in order and succeeds with exit code 0', async () => {
    const events: ProgressEvent[] = []
    const result = await fx.executor.run({
      jobId: 'j1',
      spec: spec('ok', [
        stage('build', [['one', 'echo one >> out'], ['two', 'echo two >> out']]),
        stage('test', [['three', 'echo three >> out']])
      ]),
      params: {},
      onProgress: e => { events.push(e) }
    })
    expect(result.outcome).toBe('succeeded')
    expect(result.exitCode).toBe(0)
    expect(result.reason).toBeUndefined()
    expect(await lines('ok', 'out')).toEqual(['one', 'two', 'three'])
    expect(events.map(e => `${e.type}:${e.title}`)).toEqual([
      'stage-started:build', 'step-started:one', 'step-finished:one', 'step-started:two', 'step-finished:two', 'stage-finished:build',
      'stage-started:test', 'step-started:three', 'step-finished:three', 'stage-finished:test'
    ])
    expect(events.filter(e => e.type === 'step-finished').map(e => e.exitCode)).toEqual([0, 0, 0])
  })

  const hooked = (failIn?: string): ReturnType<typeof spec> => spec('hooks', [
    stage('s1', [['a', 'echo step-a >> order']], {
      onStart: 'echo s1-start >> order', onSuccess: 'echo s1-success >> order', onFailure: 'echo s1-failure >> order'
    }),
    stage('s2', [
      ['b', failIn === 's2' ? 'echo step-b >> order; exit 3' : 'echo step-b >> order'],
      ['c', 'echo step-c >> order']
    ], { onStart: 'echo s2-start >> order', onSuccess: 'echo s2-success >> order', onFailure: 'echo s2-failure >> order' }),
    stage('s3', [['d', 'echo step-d >> order']], { onStart: 'echo s3-start >> order' })
  ], { onStart: 'echo job-start >> order', onSuccess: 'echo "job-success $CIT_JOB_OUTCOME" >> order', onFailure: 'echo "job-failure $CIT_JOB_OUTCOME" >> order' })

  it('runs hooks in order on success', async () => {
    const result = await fx.executor.run({ jobId: 'h1', spec: hooked(), params: {} })
    expect(result.outcome).toBe('succeeded')
    expect(await lines('hooks', 'order')).toEqual([
      'job-start', 's1-start', 'step-a', 's1-success', 's2-start', 'step-b', 'step-c', 's2-success', 's3-start', 'step-d', 'job-success succeeded'
    ])
  })

  it('stops at a failing step: stage onFailure, job onFailure, nothing after; exit code of the step', async () => {
    const result = await fx.executor.run({ jobId: 'h2', spec: hooked('s2'), params: {} })
    expect(result.outcome).toBe('failed')
    expect(result.exitCode).toBe(3)
    expect(result.reason).toContain('"b"')
    expect(result.reason).toContain('"s2"')
    expect(await lines('hooks', 'order')).toEqual([
      'job-start', 's1-start', 'step-a', 's1-success', 's2-start', 'step-b', 's2-failure', 'job-failure failed'
    ])
  })

  it('reports exit 0 for commands that close the terminal just before they exit (no hangup race)', async () => {
    // coreutils close stdout at exit; were the job's shell the session leader, node-pty's EIO
    // would close the master and the kernel's hangup would kill the exiting leader (~15% of runs)
    const steps = Array.from({ length: 30 }, (_, i): [string, string] => [`ln ${i}`, `ln -sf target link${i}`])
    const result = await fx.executor.run({ jobId: 'race', spec: spec('race', [stage('s', steps)]), params: {} })
    expect(result.reason).toBeUndefined()
    expect(result.outcome).toBe('succeeded')
  })

  it('goes on past a failing step marked ignoreExitCode', async () => {
    const result = await fx.executor.run({
      jobId: 'i1',
      spec: spec('ignore', [stage('s', [['flaky', 'echo flaky >> out; exit 4', true], ['next', 'echo next >> out']])]),
      params: {}
    })
    expect(result.outcome).toBe('succeeded')
    expect(result.exitCode).toBe(0)
    expect(await lines('ignore', 'out')).toEqual(['flaky', 'next'])
  })

  it('never lets a hook exit code change the outcome', async () => {
    const ok = await fx.executor.run({
      jobId: 'x1',
      spec: spec('hookexit', [stage('s', [['a', 'true']], { onStart: 'exit 9', onSuccess: 'exit 8' })], { onStart: 'exit 7', onSuccess: 'exit 6' }),
      params: {}
    })
    expect(ok.outcome).toBe('succeeded')
    expect(ok.exitCode).toBe(0)
    const failed = await fx.executor.run({
      jobId: 'x2',
      spec: spec('hookexit', [stage('s', [['a', 'exit 2']], { onFailure: 'exit 0' })], { onFailure: 'exit 0' }),
      params: {}
    })
    expect(failed.outcome).toBe('failed')
    expect(failed.exitCode).toBe(2)
  })

  it('passes params and CIT_ variables as environment, and nothing else of the daemon', async () => {
    process.env.CIT_TEST_CANARY_SECRET = 'do-not-leak'
    try {
      const result = await fx.executor.run({
        jobId: 'env-job-1',
        spec: spec('envjob', [stage('s', [['env', 'env > env.txt']])]),
        params: { TARGET: 'all things', EMPTY: '' }
      })
      expect(result.outcome).toBe('succeeded')
    } finally {
      delete process.env.CIT_TEST_CANARY_SECRET
    }
    const env = Object.fromEntries((await lines('envjob', 'env.txt')).map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
    expect(env.TARGET).toBe('all things')
    expect(env.EMPTY).toBe('')
    expect(env.CIT_JOB_ID).toBe('env-job-1')
    expect(env.CIT_JOB_NAME).toBe('envjob')
    expect(env.CIT_WORKSPACE).toBe(join(fx.workspaces, 'envjob'))
    expect(env.PWD).toBe(join(fx.workspaces, 'envjob'))
    expect(env.TERM).toBe('xterm-256color')
    expect(env.PATH).toBeTruthy()
    expect(env.HOME).toBeTruthy()
    expect(env.CIT_TEST_CANARY_SECRET).toBeUndefined()
    expect(Object.values(env)).not.toContain('do-not-leak')
  })

  it('refuses a bad param name or job name before running anything', async () => {
    await expect(fx.executor.run({ jobId: 'b1', spec: spec('bad', [stage('s', [['a', 'true']])]), params: { 'NOT-OK': 'x' } }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_RUN_REQUEST' })
    await expect(fx.executor.run({ jobId: 'b2', spec: spec('bad', [stage('s', [['a', 'true']])]), params: { PATH: '/tmp' } }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_RUN_REQUEST' })
    await expect(fx.executor.run({ jobId: 'b3', spec: spec('../escape', [stage('s', [['a', 'true']])]), params: {} }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_RUN_REQUEST' })
  })

  it('keeps the workspace between runs of the same name, and runs them one at a time', async () => {
    await fx.executor.run({ jobId: 'w1', spec: spec('persist', [stage('s', [['a', 'echo first >> runs']])]), params: {} })
    await fx.executor.run({ jobId: 'w2', spec: spec('persist', [stage('s', [['a', 'echo second >> runs']])]), params: {} })
    expect(await lines('persist', 'runs')).toEqual(['first', 'second'])

    // two runs of one name at once: the second waits for the first, so their lines never interleave
    await writeFile(join(fx.workspaces, 'persist', 'log'), '')
    const step = (tag: string): string => `echo ${tag} >> log; sleep 0.3; echo ${tag} >> log`
    const [a, b] = await Promise.all([
      fx.executor.run({ jobId: 'w3', spec: spec('persist', [stage('s', [['a', step('a')]])]), params: {} }),
      fx.executor.run({ jobId: 'w4', spec: spec('persist', [stage('s', [['b', step('b')]])]), params: {} })
    ])
    expect([a.outcome, b.outcome]).toEqual(['succeeded', 'succeeded'])
    expect((await lines('persist', 'log')).join(' ')).toMatch(/^(a a b b|b b a a)$/)
  })
})
