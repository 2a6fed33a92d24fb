/**
 * The runner sets a run up while its claim is in flight when it tries first (Runner, early-run.ts):
 * the executor is asked at once but may start only once the claim won and `started` is recorded;
 * a claim that does not win calls the run off. A real JobService on a temp LevelDB; the claimer
 * and the executor are stand-ins that say when they were asked.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { validateJobSpec } from '../../../protocols/job/index.js'
import { silentLogger } from '../../../store/logger.js'
import { RunCalledOffError } from '../../../node/executor/errors.js'
import { Runner } from '../../../node/scheduler/runner.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import { waitFor } from '../../helpers/wait.js'
import type { JobService } from '../../../node/jobs/job-service.js'
import type { JobServiceOnDisk } from '../../helpers/job-service.js'
import type { Claimer, ClaimResult } from '../../../node/scheduler/claimer.js'
import type { RunRequest, RunResult } from '../../../node/executor/types.js'

/** a claimer whose claims answer when the test says, trying after `delayMs` */
function claimer (delayMs: number): Claimer & { asked: number, answer: (r: ClaimResult) => void } {
  const waiting: Array<(r: ClaimResult) => void> = []
  const c = {
    asked: 0,
    answer: (r: ClaimResult) => { waiting.shift()?.(r) },
    plan: () => ({ delayMs }),
    claim: async (): Promise<ClaimResult> => {
      c.asked++
      return await new Promise<ClaimResult>(resolve => { waiting.push(resolve) })
    },
    keepAlive: () => () => {},
    finish: async () => ({ ok: true as const }),
    release: async () => {},
    abandoned: () => false,
    requeueAfterRestart: () => false
  }
  return c
}

/** an executor that records each request and whether its `ready` resolved, as the real one would act on it */
function executor (): { run: (req: RunRequest) => Promise<RunResult>, asked: RunRequest[], gate: Map<string, 'open' | 'shut'>, ran: string[] } {
  const e = {
    asked: [] as RunRequest[],
    gate: new Map<string, 'open' | 'shut'>(),
    ran: [] as string[],
    run: async (req: RunRequest): Promise<RunResult> => {
      e.asked.push(req)
      try {
        await req.ready
        e.gate.set(req.jobId, 'open')
      } catch {
        e.gate.set(req.jobId, 'shut')
        throw new RunCalledOffError(req.jobId)
      }
      e.ran.push(req.jobId)
      return { outcome: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 0, maxRssBytes: 0 }, log: '0'.repeat(64), artefacts: [] }
    }
  }
  return e
}

describe('Runner: a run set up while its claim is in flight', () => {
  let parts: JobServiceOnDisk
  let jobs: JobService
  let runner: Runner | undefined

  beforeEach(async () => {
    parts = await jobServiceOnDisk({ prefix: 'cit-runner-early-' })
    jobs = parts.jobs
  })

  afterEach(async () => {
    await runner?.stop()
    runner = undefined
    await parts.close()
  })

  const submit = async (name: string): Promise<string> => {
    const { spec } = validateJobSpec({ name, stages: [{ steps: ['true'] }] })
    return (await jobs.submit({ spec: spec!, params: {} })).id
  }

  it('the node that tries first has the run set up before its claim answers, and started only after it won', async () => {
    const c = claimer(0)
    const e = executor()
    runner = new Runner({ jobs, executor: e, claimer: c, logger: silentLogger })
    await runner.start()
    const id = await submit('early')
    await waitFor(() => c.asked === 1 && e.asked.length === 1, { timeoutMs: 5000, what: 'the claim and the set-up together' })
    // the claim is still in flight: the executor holds the run, unstarted
    expect(e.gate.has(id)).toBe(false)
    expect((await jobs.get(id))?.state).toBe('queued')
    c.answer({ ok: true, epoch: 1 })
    await waitFor(async () => (await jobs.get(id))?.state === 'succeeded', { timeoutMs: 5000, what: 'the job to finish' })
    expect(e.gate.get(id)).toBe('open')
    expect(e.ran).toEqual([id])
    // one run, the one set up early
    expect(e.asked).toHaveLength(1)
  })

  it('a claim that does not win calls the run off: nothing runs, no event is recorded, and the job can be claimed again', async () => {
    const c = claimer(0)
    const e = executor()
    runner = new Runner({ jobs, executor: e, claimer: c, logger: silentLogger })
    await runner.start()
    const id = await submit('lost')
    await waitFor(() => c.asked === 1 && e.asked.length === 1, { timeoutMs: 5000, what: 'the claim and the set-up together' })
    c.answer({ ok: false, reason: 'held', holder: 'another-node', retryMs: 50 })
    await waitFor(() => e.gate.get(id) === 'shut', { timeoutMs: 5000, what: 'the run to be called off' })
    expect(e.asked[0].signal?.aborted).toBe(true)
    expect(e.ran).toEqual([])
    const row = await jobs.get(id)
    expect(row?.state).toBe('queued')
    expect(row?.executor).toBeUndefined()
    // the next attempt sets up afresh (the executor let go of the first) and may win
    await waitFor(() => c.asked === 2 && e.asked.length === 2, { timeoutMs: 5000, what: 'a second attempt' })
    c.answer({ ok: true, epoch: 1 })
    await waitFor(async () => (await jobs.get(id))?.state === 'succeeded', { timeoutMs: 5000, what: 'the job to finish' })
    expect(e.ran).toEqual([id])
  })

  it('a node that waits for its turn sets nothing up before its claim has won', async () => {
    const c = claimer(20)
    const e = executor()
    runner = new Runner({ jobs, executor: e, claimer: c, logger: silentLogger })
    await runner.start()
    const id = await submit('later')
    await waitFor(() => c.asked === 1, { timeoutMs: 5000, what: 'the claim' })
    expect(e.asked).toHaveLength(0)
    c.answer({ ok: true, epoch: 1 })
    await waitFor(async () => (await jobs.get(id))?.state === 'succeeded', { timeoutMs: 5000, what: 'the job to finish' })
    expect(e.asked).toHaveLength(1)
  })
})
