/**
 * The lease model's harness: one schedule (Scenario) of the real LeaseService classes of 1–5
 * nodes over an in-memory network in virtual time, and the invariants checked after it. The
 * property test (model.test.ts) draws schedules; fixed counterexamples replay here exactly (the
 * nodes' keys derive from the scenario, and every delay, loss and duplicate from its seed).
 */
import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { expect } from 'vitest'
import { Identity } from '../../../protocols/codec/index.js'
import {
  CLOCK_SKEW_MS, checkGrants, checkVotes, closestAcceptors, LeaseService, majority, MemoryNetwork, MemoryVoteStore, outcomeOf
} from '../../../protocols/lease/index.js'
import { Prng } from '../../fuzz/prng.js'
import { VirtualTime } from './sim.js'
import type { LeaseClock, VoteRecord } from '../../../protocols/lease/index.js'

const MESH = 'ab'.repeat(32)
const CHAOS_END_MS = 60_000
const HORIZON_MS = CHAOS_END_MS + 150_000

export interface Scenario {
  nodes: number
  jobs: number
  seed: number
  drop: number
  dup: number
  maxDelay: number
  workMs: number
  clocks: Array<{ offset: number, rate: number }>
  crashes: Array<{ node: number, at: number, downFor: number }>
  partitions: Array<{ at: number, len: number, side: number }>
  /** seeds the nodes' keys (default `seed`): the keys decide which nodes are a job's acceptors */
  keys?: number
  /** vote records each acceptor keeps in memory (default its own): 1 drops records all the time */
  acceptorCache?: number
}

export const scenario: fc.Arbitrary<Scenario> = fc.record({
  nodes: fc.integer({ min: 1, max: 5 }),
  jobs: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  drop: fc.double({ min: 0, max: 0.3, noNaN: true }),
  dup: fc.double({ min: 0, max: 0.2, noNaN: true }),
  maxDelay: fc.integer({ min: 1, max: 4000 }),
  workMs: fc.integer({ min: 100, max: 20_000 }),
  clocks: fc.array(fc.record({ offset: fc.integer({ min: -2000, max: 2000 }), rate: fc.double({ min: 0.99, max: 1.01, noNaN: true }) }), { minLength: 5, maxLength: 5 }),
  crashes: fc.array(fc.record({ node: fc.nat(4), at: fc.integer({ min: 0, max: 50_000 }), downFor: fc.integer({ min: 100, max: 30_000 }) }), { maxLength: 6 }),
  partitions: fc.array(fc.record({ at: fc.integer({ min: 0, max: 50_000 }), len: fc.integer({ min: 100, max: 20_000 }), side: fc.nat(31) }), { maxLength: 4 }),
  // acceptors that keep one or two of the (up to 3) jobs' records in memory read the others back
  // from their stores: dropping records must not break any guarantee
  acceptorCache: fc.constantFrom(1, 2, undefined)
})

interface SimNode { id: string, identity: Identity, clock: LeaseClock, votes: RecordingStore, service?: LeaseService, gen: number, known: Map<string, { epoch: number, proof?: Uint8Array }> }
export interface Holding { job: string, epoch: number, holder: string, start: number, end: number }

/** a vote store that also notes every result it was asked to keep (what its acceptor voted for) */
class RecordingStore extends MemoryVoteStore {
  constructor (private readonly id: string, private readonly votes: Map<string, Set<string>>) { super() }
  override async put (job: string, record: VoteRecord): Promise<void> {
    const a = record.accepted
    if (a != null) {
      const key = `${job}/${a.epoch}/${a.holder}/${a.outcome}`
      this.votes.set(key, (this.votes.get(key) ?? new Set()).add(this.id))
    }
    await super.put(job, record)
  }
}

export interface ModelResult { certs: Map<string, Set<string>>, holdings: Holding[], votable: Map<string, number>, done: Set<string> }

/** the nodes' keys, derived from a seed so that a counterexample replays exactly */
async function identitiesOf (seed: number, n: number): Promise<Identity[]> {
  return await Promise.all(Array.from({ length: n }, async (_, i) => {
    const key = await generateKeyPairFromSeed('Ed25519', createHash('sha256').update(`lease-model/${seed}/${i}`).digest())
    return new Identity(key)
  }))
}

/** run one schedule to its end (every job decided, or the horizon) */
export async function run (sc: Scenario): Promise<ModelResult> {
  const identities = await identitiesOf(sc.keys ?? sc.seed, sc.nodes)
  const vt = new VirtualTime()
  const rng = new Prng(sc.seed)
  const chaos = (): boolean => vt.t < CHAOS_END_MS
  let side: Set<string> | undefined
  const votes = new Map<string, Set<string>>() // job/ballot/holder/outcome → acceptors that accepted it
  const network = new MemoryNetwork((from, to, bytes, deliver) => {
    if (chaos() && side != null && side.has(from) !== side.has(to)) return
    if (chaos() && rng.float() < sc.drop) return
    const copies = chaos() && rng.float() < sc.dup ? 2 : 1
    for (let i = 0; i < copies; i++) vt.after(rng.float() * (chaos() ? sc.maxDelay : 20), deliver)
  })
  const nodes: SimNode[] = identities.slice(0, sc.nodes).map((identity, i) => ({
    id: identity.id, identity, clock: vt.clock(sc.clocks[i].offset, sc.clocks[i].rate), votes: new RecordingStore(identity.id, votes), gen: 0, known: new Map()
  }))
  const jobs = Array.from({ length: sc.jobs }, (_, i) => outcomeOf({ job: i, seed: sc.seed }))
  const acceptorsOf = new Map(jobs.map(j => [j, closestAcceptors(j, nodes.map(n => n.id))]))
  const done = new Set<string>()
  const certs = new Map<string, Set<string>>()
  const holdings: Holding[] = []

  const worker = async (node: SimNode, job: string, gen: number): Promise<void> => {
    const alive = (): boolean => node.gen === gen && !done.has(job)
    const acceptors = acceptorsOf.get(job)!
    while (alive() && vt.t < HORIZON_MS) {
      const claimant = node.service!.claimant
      const k = node.known.get(job) ?? { epoch: 0 }
      const r = await claimant.claim({ job, acceptors, epoch: k.epoch + 1, proof: k.proof }).catch(() => undefined)
      if (!alive()) return
      if (r == null) { await vt.sleep(node.clock, 200); continue }
      if (process.env.CIT_LEASE_TRACE === '1' && vt.t > CHAOS_END_MS) console.log(Math.round(vt.t), node.id.slice(-4), job.slice(0, 6), k.epoch + 1, r.ok ? 'ok' : `${r.reason} e${r.epoch} ${r.holder?.slice(-4)} w${r.waitMs}`)
      if (!r.ok) {
        if (r.epoch != null && r.epoch > k.epoch) node.known.set(job, { epoch: r.epoch, proof: r.proof })
        await vt.sleep(node.clock, 50 + rng.float() * 500 + Math.min(r.waitMs ?? 0, 2000))
        continue
      }
      expect(checkGrants(r.grants, { mesh: MESH, job, epoch: r.epoch, acceptors })).toEqual({ ok: true, holder: node.id })
      node.known.set(job, { epoch: r.epoch, proof: r.grants[0] })
      if (r.adopt != null) {
        // a result was accepted before: propose it, do not run the job again
        const f = await claimant.finish(job, r.epoch, r.adopt).catch(() => undefined)
        if (f?.ok === true) {
          expect(checkVotes(f.votes, { mesh: MESH, job, acceptors, holder: r.adopt.holder, outcome: r.adopt.outcome }).ok).toBe(true)
          certs.set(job, (certs.get(job) ?? new Set()).add(`${r.adopt.holder}/${r.adopt.outcome}`))
          vt.after(100, () => { done.add(job) })
          return
        }
        continue
      }
      const h: Holding = { job, epoch: r.epoch, holder: node.id, start: vt.t, end: vt.t }
      holdings.push(h)
      let lost = false
      claimant.watch(job, r.epoch, () => { lost = true })
      for (let spent = 0; spent < sc.workMs && !lost && alive(); spent += 100) {
        await vt.sleep(node.clock, 100)
        if (claimant.holds(job, r.epoch)) h.end = vt.t
        else lost = true
      }
      if (!alive() || lost) continue
      const outcome = outcomeOf({ job, epoch: r.epoch, by: node.id })
      const f = await claimant.finish(job, r.epoch, { outcome }).catch(() => undefined)
      if (f?.ok === true) {
        expect(checkVotes(f.votes, { mesh: MESH, job, acceptors, holder: node.id, outcome }).ok).toBe(true)
        certs.set(job, (certs.get(job) ?? new Set()).add(`${node.id}/${outcome}`))
        // the result reaches every node a little later (gossip, sync)
        vt.after(100, () => { done.add(job) })
        return
      }
    }
  }

  const start = (node: SimNode): void => {
    network.setDown(node.id, false)
    node.service = new LeaseService({
      identity: node.identity, mesh: MESH, transport: network.transport(node.id), votes: node.votes, clock: node.clock,
      lookup: async job => acceptorsOf.get(job), isBuilder: () => true
    }, { cacheSize: sc.acceptorCache })
    node.service.start()
    const gen = ++node.gen
    for (const job of jobs) void worker(node, job, gen)
  }
  const crash = (node: SimNode): void => {
    network.setDown(node.id, true)
    node.service?.stop()
    node.gen++
  }

  for (const n of nodes) start(n)
  for (const c of sc.crashes.filter(c => c.node < nodes.length)) {
    const node = nodes[c.node]
    vt.after(c.at, () => { if (node.gen % 2 === 1) crash(node) })
    vt.after(Math.min(c.at + c.downFor, CHAOS_END_MS), () => { if (node.gen % 2 === 0) start(node) })
  }
  for (const p of sc.partitions) {
    vt.after(p.at, () => { side = new Set(nodes.filter((_, i) => (p.side >> i) & 1).map(n => n.id)) })
    vt.after(Math.min(p.at + p.len, CHAOS_END_MS), () => { side = undefined })
  }
  // the end of the chaos: every node up, no partition
  vt.after(CHAOS_END_MS, () => { side = undefined; for (const n of nodes) if (n.gen % 2 === 0) start(n) })
  await vt.run(HORIZON_MS, () => done.size === jobs.length)
  for (const n of nodes) n.service?.stop()

  // certifiable results: any (holder, outcome) a majority of the job's acceptors voted for at
  // one ballot, counted over every vote any acceptor ever stored (an acceptor votes only after
  // storing it), not only over the certificates assembled
  const certifiable = new Map<string, Set<string>>()
  for (const [key, signers] of votes) {
    const [job, , holder, outcome] = key.split('/')
    const acc = acceptorsOf.get(job)!
    if ([...signers].filter(s => acc.includes(s)).length >= majority(acc.length)) certifiable.set(job, (certifiable.get(job) ?? new Set()).add(`${holder}/${outcome}`))
  }
  const votable = new Map([...certifiable].map(([job, set]) => [job, set.size]))
  for (const j of jobs) if (!done.has(j) && certs.has(j)) done.add(j)
  return { certs, holdings, votable, done: new Set(jobs.filter(j => done.has(j))) }
}

/** the invariants of one schedule's run */
export function check (sc: Scenario, r: ModelResult): void {
  for (const [job, set] of r.certs) expect(set.size, `results of ${job.slice(0, 8)}`).toBe(1)
  for (const [job, n] of r.votable) expect(n, `certifiable results of ${job.slice(0, 8)}`).toBe(1)
  for (const a of r.holdings) {
    for (const b of r.holdings) {
      if (a === b || a.job !== b.job || a.epoch >= b.epoch) continue
      expect(a.end < b.start || b.end < a.start, `epochs ${a.epoch} and ${b.epoch} of ${a.job.slice(0, 8)} held at once`).toBe(true)
    }
  }
  // liveness is promised only to nodes whose clocks agree within the skew window (a claim signed
  // further from an acceptor's clock is refused): the rates drawn may drift two clocks apart by
  // more than that before the horizon, and then a job whose acceptors disagree stays unclaimed
  if (clocksAgree(sc)) expect(r.done.size, 'jobs with a certified result').toBe(sc.jobs)
}

/** whether every two nodes' clocks stay within the skew window (less a delivery's delay) from the end of the chaos to the horizon */
export function clocksAgree (sc: Scenario): boolean {
  const at = (c: { offset: number, rate: number }, t: number): number => c.offset + t * c.rate
  const clocks = sc.clocks.slice(0, sc.nodes)
  // the difference of two clocks is linear in time: its largest value is at one end
  return [CHAOS_END_MS, HORIZON_MS].every(t => Math.max(...clocks.map(c => at(c, t))) - Math.min(...clocks.map(c => at(c, t))) < CLOCK_SKEW_MS - 100)
}
