import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { report, SEED } from '../fuzz/harness.js'
import { Prng, seedFrom } from '../fuzz/prng.js'
import { agreement, allPeersFresh, count, heal, limit, partitionEnv, size, spec, split, submit, waitFinal } from './helpers.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

const NODES = 5
/** splits of the mesh, one after the other */
const PARTITIONS = size('CIT_CHAOS_PARTITIONS', 1, 4)
/** jobs per round: known to both sides before the split, and submitted on each side during it */
const BEFORE = size('CIT_CHAOS_PARTITION_JOBS', 6, 20)

describe(`partitions: a ${NODES}-node mesh split 3/2 (${PARTITIONS}×), jobs submitted on both sides, then healed`, () => {
  let mesh: TestMesh

  beforeAll(async () => {
    console.log(`[chaos] seed ${SEED} (CIT_FUZZ_SEED=${SEED} replays the same splits)`)
    mesh = await makeMesh(NODES, { config: () => ({ slots: 2 }), env: partitionEnv })
    await allPeersFresh(mesh)
  }, 180_000)

  afterAll(async () => { await mesh?.close() })

  it('after each heal every node has the same jobs in the same states with the same executors and results', async () => {
    const rng = new Prng(seedFrom(SEED, 'partition'))
    const all: string[] = []
    const rounds: object[] = []
    for (let round = 0; round < PARTITIONS; round++) {
      const shuffled = [...mesh.nodes].sort(() => rng.float() - 0.5)
      const [big, small] = [shuffled.slice(0, 3), shuffled.slice(3)]
      const t0 = Date.now()
      // jobs every node knows, waiting while all nodes are paused: both sides will want them
      for (const n of mesh.nodes) await mesh.api(n).setState('paused')
      const known: string[] = []
      for (let i = 0; i < BEFORE; i++) known.push(await submit(mesh, mesh.nodes[i % NODES], spec(`name: p${round}-both-${i}\nstages:\n  - steps:\n      - sleep 1; echo both ${i}\n`)))
      // and two long ones
      const long: string[] = []
      for (let i = 0; i < 2; i++) long.push(await submit(mesh, mesh.nodes[i], spec(`name: p${round}-long-${i}\nstages:\n  - steps:\n      - sleep 10; echo long ${i}\n`)))
      known.push(...long)
      for (const n of mesh.nodes) {
        await waitFor(async () => {
          const ids = new Set((await mesh.api(n).list()).map(j => j.id))
          return known.every(id => ids.has(id)) ? true : undefined
        }, { timeoutMs: 30_000, what: `${n.name} to know the jobs before the split` })
      }
      await split(mesh, [big, small])
      for (const n of mesh.nodes) await mesh.api(n).setState('active')
      // and jobs only one side hears of until the heal
      const sided: string[] = []
      for (let i = 0; i < BEFORE; i++) {
        const side = i % 2 === 0 ? big : small
        sided.push(await submit(mesh, side[i % side.length], spec(`name: p${round}-side-${i}\nstages:\n  - steps:\n      - sleep 1; echo side ${i}\n`)))
      }
      // a side runs a job only if it holds a majority of the job's acceptors: the other side
      // cannot claim it until the heal (the price of never running a job on both sides)
      const majorityOn = async (id: string, side: MeshNode[]): Promise<boolean> => {
        const acc = (await mesh.api(side[0]).show(id)).acceptors ?? []
        return acc.filter(a => side.some(n => n.peerId === a)).length > acc.length / 2
      }
      const plan = { big: [] as string[], small: [] as string[], stuck: [] as Array<[string, MeshNode[]]> }
      for (const id of known) (await majorityOn(id, big) ? plan.big : plan.small).push(id)
      for (const [i, id] of sided.entries()) {
        const side = i % 2 === 0 ? big : small
        if (await majorityOn(id, side)) (side === big ? plan.big : plan.small).push(id)
        else plan.stuck.push([id, side])
      }
      await waitFinal(mesh, big, plan.big, 120_000, 'the big side\'s jobs to finish')
      await waitFinal(mesh, small, plan.small, 120_000, 'the small side\'s jobs to finish')
      // those whose acceptors are mostly on the other side are still waiting on their side
      for (const [id, side] of plan.stuck) expect((await mesh.api(side[0]).show(id)).state, `${id.slice(0, 8)} during the split`).toBe('queued')
      const stillRunning = plan.stuck.length
      await heal(mesh)
      const ids = [...known, ...sided]
      all.push(...ids)
      await waitFinal(mesh, mesh.nodes, ids, 90_000, 'every job to be known and final after the heal')
      const { snaps, diff } = await agreement(mesh, all, 'the nodes to agree after the heal')
      const mine = snaps.get(mesh.nodes[0].name)!
      const jobs = ids.map(id => mine.get(id)!)
      const figures = {
        round,
        split: [big.map(n => n.name), small.map(n => n.name)],
        jobsKnownToBothSides: known.length,
        waitingForTheOtherSideAtHeal: stillRunning,
        jobsSubmittedPerSide: [sided.filter((_, i) => i % 2 === 0).length, sided.filter((_, i) => i % 2 === 1).length],
        ms: Date.now() - t0,
        states: Object.fromEntries([...new Set(jobs.map(j => j.state))].map(s => [s, jobs.filter(j => j.state === s).length])),
        duplicateExecutions: jobs.filter(j => count(j, 'started') > 1).length,
        resultsPublishedTwice: jobs.filter(j => count(j, 'finished') > 1).length,
        disagreements: diff
      }
      rounds.push(figures)
      report('partition', { seed: SEED, ...figures })
      expect(diff).toEqual([])
      for (const j of jobs) expect(j.state).toBe('succeeded')
    }
    expect(rounds.length).toBe(PARTITIONS)
  }, limit(900_000, 3_600_000))
})
