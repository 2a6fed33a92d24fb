/**
 * The lease protocol under property-based schedules: the real LeaseService (acceptor, claimant,
 * RPC) of 1–5 nodes over an in-memory network in virtual time, with random message delays,
 * losses and duplicates, crashes and restarts of nodes (acceptors and claimants alike), clocks
 * offset and running at different rates within the margin, and partitions. After the chaos
 * window everything heals.
 *
 * Invariants: at most one result per job can ever be certified (counted over every vote any
 * acceptor signed, not only the certificates assembled); no two runs of a job hold a lease at
 * the same moment; every job gets a certified result once a majority of its acceptors and a
 * builder are up. `npm run soak` runs many more schedules (CIT_SOAK=1, or CIT_LEASE_RUNS=N);
 * CIT_LEASE_SCENARIO='<json>' replays one counterexample, CIT_LEASE_TRACE=1 prints its claims.
 * A schedule replays exactly: the nodes' keys derive from it (`keys`, else `seed`). The
 * counterexamples found so far run every time, before the random schedules.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { check, clocksAgree, run, scenario } from './model.js'
import type { Scenario } from './model.js'

const SOAK = process.env.CIT_SOAK === '1'
const RUNS = Number(process.env.CIT_LEASE_RUNS ?? '') > 0 ? Number(process.env.CIT_LEASE_RUNS) : SOAK ? 2000 : 100
/** `npm test` stops after this long (the schedules run so far count), `npm run soak` does not */
const TIME_LIMIT_MS = SOAK ? 3_000_000 : 50_000

/**
 * Schedules that once broke an invariant. CI drew random keys, so `keys` picks keys with which
 * the schedule breaks again (before the fix: "epochs 12 and 14 of 87deb98a held at once", as in CI).
 */
const TWO_HOLDERS: Scenario = { nodes: 4, jobs: 2, seed: 1686358222, drop: 0.29980978667735975, dup: 9.271851714986544e-165, maxDelay: 3850, workMs: 17509, clocks: [{ offset: -157, rate: 1.0099999999999993 }, { offset: -741, rate: 1.0051228706135322 }, { offset: -533, rate: 0.9991475674369406 }, { offset: -232, rate: 0.9966492360492457 }, { offset: 6, rate: 0.9900000000000017 }], crashes: [{ node: 0, at: 20268, downFor: 13030 }, { node: 0, at: 37604, downFor: 10169 }], partitions: [{ at: 4692, len: 1749, side: 20 }, { at: 172, len: 2355, side: 1 }, { at: 27553, len: 870, side: 14 }, { at: 16641, len: 14435, side: 31 }] }
const COUNTEREXAMPLES: Array<{ name: string, scenario: Scenario }> = [
  {
    // a claim failed (some grants late or lost) and released what it may have been granted; the
    // same node claimed the same epoch again and won, then a release of the failed attempt, still
    // on its way, freed that grant at one acceptor, which granted a later epoch to another node
    // while the first still held its lease by its own clock
    name: 'a late release of a failed claim does not free the retry of the same epoch (CI, 2 holders at once)',
    scenario: { ...TWO_HOLDERS, keys: 99 }
  },
  {
    // two nodes whose clocks drift more than 5 s apart: every claim is refused for skew after a
    // while, so no job can finish (liveness is not promised then), but nothing unsafe happens
    name: 'clocks drifting out of the skew window: no job decided, and no two holders',
    scenario: { nodes: 2, jobs: 2, seed: 1164520086, drop: 6e-323, dup: 6e-323, maxDelay: 3786, workMs: 19995, clocks: [{ offset: -1978, rate: 0.9900000000000001 }, { offset: 1994, rate: 1.0072344727482314 }, { offset: 536, rate: 0.994665741074871 }, { offset: -1995, rate: 0.9900000000000008 }, { offset: 1995, rate: 0.9947740784741258 }], crashes: [{ node: 2, at: 30254, downFor: 18578 }, { node: 3, at: 34935, downFor: 1155 }, { node: 0, at: 43507, downFor: 15473 }, { node: 4, at: 24452, downFor: 14866 }, { node: 0, at: 25484, downFor: 11739 }, { node: 0, at: 1016, downFor: 19071 }], partitions: [{ at: 40535, len: 3114, side: 18 }, { at: 21901, len: 9218, side: 31 }] }
  },
  {
    // the same with every reply of the first attempt lost
    name: 'a late release of a claim that timed out everywhere does not free its retry',
    scenario: { ...TWO_HOLDERS, keys: 12 }
  }
]

describe('lease protocol model: counterexamples found before', () => {
  for (const { name, scenario: sc } of COUNTEREXAMPLES) {
    it(name, async () => { check(sc, await run(sc)) })
  }
  it('the skew case above is one the liveness check leaves out, the CI case one it keeps', () => {
    expect(clocksAgree(COUNTEREXAMPLES[1].scenario)).toBe(false)
    expect(clocksAgree(COUNTEREXAMPLES[0].scenario)).toBe(true)
  })
})

describe('lease protocol model (property-based schedules)', () => {
  it(`${RUNS} schedules: at most one certifiable result per job, no overlapping holders, every job finished after the chaos`, async () => {
    const t0 = Date.now()
    const only = process.env.CIT_LEASE_SCENARIO
    if (only != null) {
      const r = await run(JSON.parse(only))
      console.log(r.done.size, [...r.certs.values()].map(s => [...s]))
      return
    }
    await fc.assert(fc.asyncProperty(scenario, async sc => {
      const t1 = Date.now()
      const r = await run(sc)
      if (process.env.CIT_LEASE_DEBUG === '1') console.log(`[lease-model] ${Date.now() - t1} ms`, JSON.stringify({ ...sc, clocks: undefined }), r.done.size, [...r.certs.values()].map(s => s.size), [...r.votable.values()])
      check(sc, r)
    }), { numRuns: RUNS, seed: Number(process.env.CIT_FUZZ_SEED ?? '') || undefined, endOnFailure: process.env.CIT_LEASE_DEBUG === '1', interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false })
    console.log(`[lease-model] ${RUNS} schedules in ${Date.now() - t0} ms`)
  }, SOAK ? 3_600_000 : 120_000)
})
