import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDaemon, waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { report, SEED } from '../fuzz/harness.js'
import { Prng, seedFrom } from '../fuzz/prng.js'
import { majority } from '../../protocols/lease/index.js'
import { agreement, allPeersFresh, count, FINAL, limit, pidOf, sigkill, size, snapshot, spec, submit, waitFinal } from './helpers.js'
import type { Facts } from './helpers.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

const NODES = 5
const JOBS = size('CIT_CHAOS_JOBS', 100, 400)
const KILLS = size('CIT_CHAOS_KILLS', 3, 12)
/** time between two kills */
const KILL_EVERY_MS = size('CIT_CHAOS_KILL_EVERY_MS', 3000, 6000)

/** a run started after the job's result was out: a restarted node acting before it caught up */
function claimedAsQueuedAfterResult (j: Facts): boolean {
  const first = j.types.indexOf('finished')
  return first !== -1 && j.types.some((t, i) => i > first && t === 'started')
}

/** a job its own restarted executor put back in the queue */
function restartedHere (j: Facts): boolean {
  return j.types.some((t, i) => t === 'requeued' && j.reasons[i]?.includes('daemon stopped') === true)
}

interface Kill { node: string, running: number, restart: 'at once' | 'after take-over', downMs: number }

describe(`crashes: ${KILLS} SIGKILLs of executing daemons during ${JOBS} jobs on ${NODES} nodes`, () => {
  let mesh: TestMesh
  const ids: string[] = []
  const kills: Kill[] = []

  beforeAll(async () => {
    console.log(`[chaos] seed ${SEED} (CIT_FUZZ_SEED=${SEED} replays the same job lengths and victims)`)
    mesh = await makeMesh(NODES, { config: () => ({ slots: 2 }) })
    await allPeersFresh(mesh)
  }, 180_000)

  afterAll(async () => { await mesh?.close() })

  /**
   * Kill a node that is running something; resolves once it is dead, with `restarted`: the node
   * comes back at once, or once others have taken its jobs over (a wrapper, so that awaiting the
   * kill does not wait for the restart too)
   */
  async function killOne (rng: Prng, k: number, down: Set<MeshNode>): Promise<{ restarted: Promise<void> }> {
    const live = mesh.nodes.filter(n => !down.has(n))
    const { victim, running } = await waitFor(async () => {
      for (const n of [...live].sort(() => rng.float() - 0.5)) {
        const st = await mesh.api(n).status().catch(() => undefined)
        if (st != null && st.running.length > 0) return { victim: n, running: st.running }
      }
      return undefined
    }, { timeoutMs: 60_000, intervalMs: 100, what: 'a node running a job' })
    const pid = await pidOf(mesh, victim)
    down.add(victim)
    const killedAt = Date.now()
    await sigkill(pid)
    const restart = k % 2 === 0 ? 'after take-over' : 'at once'
    const restarted = (async () => {
      if (restart === 'after take-over') {
        // its jobs were claimed again elsewhere (after the lease expired and the node stayed
        // silent), except those that cannot be: a lease needs a majority of the job's acceptors,
        // and with another victim down too a job may have lost it (it then waits for the restart
        // of this node or the other, and runs again at least once)
        await waitFor(async () => {
          const observer = mesh.nodes.find(n => !down.has(n))!
          const gone = new Set([...down].map(n => n.peerId))
          for (const id of running) {
            const j = await mesh.api(observer).show(id)
            const acceptors = j.acceptors ?? []
            const claimable = acceptors.filter(a => !gone.has(a)).length >= majority(acceptors.length)
            if (!FINAL.has(j.state) && j.executor === victim.peerId && claimable) return undefined
          }
          return true
        }, { timeoutMs: 120_000, intervalMs: 500, what: `the jobs of ${victim.name} to be taken over` })
      }
      await startDaemon(victim.home)
      down.delete(victim)
      kills.push({ node: victim.name, running: running.length, restart, downMs: Date.now() - killedAt })
    })()
    return { restarted }
  }

  it('every job reaches a final state, the same on every node: none lost, none with two accepted results', async () => {
    const rng = new Prng(seedFrom(SEED, 'crash'))
    const jobRng = new Prng(seedFrom(SEED, 'crash-jobs'))
    const t0 = Date.now()
    const down = new Set<MeshNode>()
    // submissions go on while nodes are killed: to the next live node, one after the other
    const submitting = (async () => {
      for (let i = 0; i < JOBS; i++) {
        const secs = (1 + jobRng.float() * 2).toFixed(2)
        const s = spec(`name: crash-${i}\nstages:\n  - steps:\n      - sleep ${secs}; echo done ${i}\n`)
        ids.push(await waitFor(async () => {
          const n = mesh.nodes.slice(i % NODES).concat(mesh.nodes).find(m => !down.has(m))!
          return await submit(mesh, n, s)
        }, { timeoutMs: 30_000, what: `job ${i} to be submitted` }))
      }
    })()
    const restarts: Array<Promise<void>> = []
    for (let k = 0; k < KILLS; k++) {
      await new Promise(resolve => setTimeout(resolve, KILL_EVERY_MS))
      restarts.push((await killOne(rng, k, down)).restarted)
    }
    await submitting
    await Promise.all(restarts)
    await waitFinal(mesh, mesh.nodes, ids, limit(240_000, 1_200_000))

    // the nodes agree on every job
    const { snaps, diff } = await agreement(mesh, ids, 'the nodes to agree')
    const mine = snaps.get(mesh.nodes[0].name)!
    const jobs = ids.map(id => mine.get(id)!)
    const figures = {
      seed: SEED,
      nodes: NODES,
      jobs: JOBS,
      kills,
      ms: Date.now() - t0,
      states: Object.fromEntries([...new Set(jobs.map(j => j.state))].map(s => [s, jobs.filter(j => j.state === s).length])),
      // run again after their executor restarted and put them back in the queue
      requeuedAfterRestart: jobs.filter(restartedHere).length,
      takenOver: jobs.filter(j => j.reasons.some(r => r?.startsWith('taken over') === true) || count(j, 'requeued') > 0).length,
      duplicateExecutions: jobs.filter(j => count(j, 'started') > 1).length,
      leaseLost: jobs.filter(j => count(j, 'lease-lost') > 0).length,
      // the acceptors certify one result per job: a second finished event can only repeat it
      resultsPublishedTwice: jobs.filter(j => count(j, 'finished') > 1).length,
      // claimed as if queued after a result existed: a restarted node acting before it caught up
      claimedAsQueuedAfterResult: jobs.filter(claimedAsQueuedAfterResult).length,
      lost: ids.filter(id => [...snaps.values()].some(s => !FINAL.has(s.get(id)?.state ?? 'missing'))).length,
      disagreements: diff.length
    }
    report('crash', figures)
    for (const [id, j] of ids.map(id => [id, mine.get(id)!] as const).filter(([, j]) => count(j, 'finished') > 1 || count(j, 'started') > 1)) {
      const v = await mesh.api(mesh.nodes[0]).show(id)
      console.log(`[chaos] job ${id.slice(0, 8)} ${j.state}: ${v.events.map(e => `${e.type}@${e.node.slice(-4)}+${e.at - v.submittedAt}${e.reason != null ? `(${e.reason})` : ''}`).join(' ')}`)
    }
    expect(diff).toEqual([])
    expect(figures.lost).toBe(0)
    expect(figures.claimedAsQueuedAfterResult).toBe(0)
    for (const j of jobs) {
      // at-least-once: a job whose executor died ran again, here or elsewhere, and succeeded
      expect(j.state).toBe('succeeded')
      expect(j.log).toMatch(/^[0-9a-f]{64}$/)
    }
    expect(kills.length).toBe(KILLS)
    expect(figures.takenOver).toBeGreaterThan(0)
  }, limit(600_000, 3_600_000))

  it('after every node is killed at once and restarted, queued jobs and the whole history are still there', async () => {
    const queued: string[] = []
    for (let i = 0; i < NODES; i++) queued.push(await submit(mesh, mesh.nodes[i], spec(`name: waits-${i}\nrequires: { labels: [nowhere] }\nstages:\n  - steps:\n      - echo never\n`)))
    for (const n of mesh.nodes) {
      await waitFor(async () => {
        const known = new Set((await mesh.api(n).list()).map(j => j.id))
        return queued.every(id => known.has(id)) ? true : undefined
      }, { timeoutMs: 30_000, what: `${n.name} to know the queued jobs` })
    }
    const before = new Map<string, Map<string, Facts>>()
    for (const n of mesh.nodes) before.set(n.name, await snapshot(mesh, n))
    let grown = 0
    const pids = await Promise.all(mesh.nodes.map(async n => await pidOf(mesh, n)))
    await Promise.all(pids.map(sigkill))
    const restarted = Date.now()
    await Promise.all(mesh.nodes.map(async n => await startDaemon(n.home)))
    await allPeersFresh(mesh, mesh.nodes, 60_000, restarted)
    for (const n of mesh.nodes) {
      const after = await snapshot(mesh, n)
      const was = before.get(n.name)!
      expect([...after.keys()].sort()).toEqual([...was.keys()].sort())
      for (const [id, f] of was) {
        const now = after.get(id)!
        // the same state, executor, log and exit code; the events are compared below
        expect({ ...now, types: [], hashes: [], reasons: [], reason: null }, `${n.name} ${id.slice(0, 8)}`).toEqual({ ...f, types: [], hashes: [], reasons: [], reason: null })
        // every event it had is still there (a restart's syncs may bring one it had not had yet)
        expect(now.hashes, `${n.name} ${id.slice(0, 8)}`).toEqual(expect.arrayContaining(f.hashes))
        grown += now.hashes.length - f.hashes.length
      }
      for (const id of queued) expect(after.get(id)?.state).toBe('queued')
    }
    report('restart-all', { nodes: NODES, jobsKept: before.get(mesh.nodes[0].name)!.size, queuedKept: queued.length, eventsFirstSeenAfterTheRestart: grown })
  }, 180_000)
})
