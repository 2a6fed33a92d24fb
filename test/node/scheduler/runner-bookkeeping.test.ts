/**
 * A daemon that runs for months must not grow with the number of jobs it has seen: the runner
 * keeps nothing for a job once it has ended, wherever it ran, and nothing on its own long-lived
 * signal per claim. A real JobService on a temp LevelDB; the claimer is a stand-in whose claims
 * lose (another node runs the job) when the test says.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { validateJobSpec } from '../../../protocols/job/index.js'
import { silentLogger } from '../../../store/logger.js'
import { Runner } from '../../../node/scheduler/runner.js'
import { jobServiceOnDisk } from '../../helpers/job-service.js'
import { waitFor } from '../../helpers/wait.js'
import type { JobService } from '../../../node/jobs/job-service.js'
import type { JobServiceOnDisk } from '../../helpers/job-service.js'
import type { Claimer, ClaimResult } from '../../../node/scheduler/claimer.js'

/** a claimer whose claims wait for the test's answer, and which notes what it was told to forget */
function claimer (): Claimer & { asked: string[], forgot: string[], answer: (r: ClaimResult) => void, waiting: number } {
  const pending: Array<(r: ClaimResult) => void> = []
  const c = {
    asked: [] as string[],
    forgot: [] as string[],
    get waiting () { return pending.length },
    answer: (r: ClaimResult) => { pending.shift()?.(r) },
    plan: () => ({ delayMs: 0 }),
    claim: async (row: { id: string }): Promise<ClaimResult> => {
      c.asked.push(row.id)
      return await new Promise<ClaimResult>(resolve => { pending.push(resolve) })
    },
    keepAlive: () => () => {},
    finish: async () => ({ ok: true as const }),
    release: async () => {},
    abandoned: () => false,
    requeueAfterRestart: () => false,
    forget: (id: string) => { c.forgot.push(id) }
  }
  return c
}

/** the WeakRefs Node.js 20's AbortSignal.any leaves on a source signal, one per signal made from it */
function dependants (signal: AbortSignal): number {
  const sym = Object.getOwnPropertySymbols(signal).find(s => s.description === 'kDependantSignals')
  return sym == null ? 0 : ((signal as unknown as Record<symbol, Set<unknown> | undefined>)[sym]?.size ?? 0)
}

const LOST: ClaimResult = { ok: false, reason: 'held', holder: 'another-node', retryMs: 60_000 }

describe('Runner: nothing kept for jobs that ended', () => {
  let parts: JobServiceOnDisk
  let jobs: JobService
  let runner: Runner | undefined

  beforeEach(async () => {
    parts = await jobServiceOnDisk({ prefix: 'cit-runner-books-' })
    jobs = parts.jobs
  })

  afterEach(async () => {
    await runner?.stop()
    runner = undefined
    await parts.close()
  })

  const submit = async (name: string): Promise<string> => {
    const { spec } = validateJobSpec({ name, stages: [{ steps: ['true'] }], supersede: 'none' })
    return (await jobs.submit({ spec: spec!, params: {} })).id
  }
  const end = async (id: string): Promise<void> => {
    await jobs.transition(id, 'cancelled', { state: 'cancelled', reason: 'ran elsewhere, as far as this test goes' })
  }

  it('jobs whose claims lost and that then ended elsewhere leave no retry time, no claimer state and nothing on the runner\'s signal', async () => {
    const c = claimer()
    runner = new Runner({ jobs, executor: { run: async () => { throw new Error('nothing runs here') } }, claimer: c, logger: silentLogger }, { slots: 2 })
    await runner.start()
    const ids: string[] = []
    for (let i = 0; i < 8; i++) {
      const id = await submit(`lost-${i}`)
      ids.push(id)
      await waitFor(() => c.waiting === 1, { timeoutMs: 5000, what: `the claim of job ${i}` })
      c.answer(LOST)
      await waitFor(() => runner!.bookkeeping.retries === i + 1, { timeoutMs: 5000, what: `job ${i} to wait for its retry` })
    }
    expect(runner.bookkeeping).toEqual({ candidates: 8, retries: 8, running: 0 })
    for (const id of ids) await end(id)
    await waitFor(() => runner!.bookkeeping.candidates === 0, { timeoutMs: 5000, what: 'the ended jobs to be let go' })
    expect(runner.bookkeeping).toEqual({ candidates: 0, retries: 0, running: 0 })
    expect(c.forgot.sort()).toEqual([...ids].sort())
    // each claim had a deadline linked to the runner's lifetime; none is left on it
    expect(dependants((runner as unknown as { lifetime: AbortController }).lifetime.signal)).toBe(0)
  })

  it('a job that ends while its claim is in flight keeps nothing when the claim then loses', async () => {
    const c = claimer()
    runner = new Runner({ jobs, executor: { run: async () => { throw new Error('nothing runs here') } }, claimer: c, logger: silentLogger })
    await runner.start()
    const id = await submit('ends-meanwhile')
    await waitFor(() => c.waiting === 1, { timeoutMs: 5000, what: 'the claim' })
    await end(id)
    await waitFor(() => runner!.bookkeeping.candidates === 0, { timeoutMs: 5000, what: 'the ended job to be let go' })
    c.forgot.length = 0
    c.answer(LOST)
    await waitFor(() => c.forgot.length === 1, { timeoutMs: 5000, what: 'the claimer to be told to forget the job again' })
    expect(c.forgot).toEqual([id])
    expect(runner.bookkeeping).toEqual({ candidates: 0, retries: 0, running: 0 })
  })
})
