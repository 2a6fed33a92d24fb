import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../../protocols/codec/index.js'
import {
  checkGrants, checkVotes, closestAcceptors, LEASE_GRANT, LEASE_REPLY, LEASE_REQUEST, LeaseLinks, LeaseService, majority, MemoryNetwork, MemoryVoteStore, openLeaseMessage, outcomeOf, SKEW_MARGIN_MS, systemClock
} from '../../../protocols/lease/index.js'
import { createMeshLibp2p } from '../../../protocols/net/index.js'
import { waitFor } from '../../helpers/wait.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

const MESH = 'ab'.repeat(32)
const JOB = 'cd'.repeat(32)

let ids: Identity[] = []
beforeAll(async () => { ids = await Promise.all(Array.from({ length: 4 }, async () => await Identity.generate())) })

describe('LeaseService over an in-memory network', () => {
  const services: LeaseService[] = []
  /** how far every node's clock is moved ahead: a test advances it instead of sleeping through a TTL */
  let ahead = 0
  const clock = { ...systemClock, now: () => Date.now() + ahead }
  afterEach(() => {
    for (const s of services.splice(0)) s.stop()
    ahead = 0
  })

  function mesh (n: number, network = new MemoryNetwork(), stores = ids.map(() => new MemoryVoteStore())): { nodes: LeaseService[], acceptors: string[], network: MemoryNetwork, stores: MemoryVoteStore[] } {
    const acceptors = closestAcceptors(JOB, ids.slice(0, n).map(i => i.id))
    const nodes = ids.slice(0, n).map((identity, i) => {
      const s = new LeaseService({
        identity, mesh: MESH, transport: network.transport(identity.id), votes: stores[i],
        lookup: async job => job === JOB ? acceptors : undefined, isBuilder: id => id !== ids[3].id, clock
      }, { ttlMs: 3000, callTimeoutMs: 500 })
      s.start()
      services.push(s)
      return s
    })
    return { nodes, acceptors, network, stores }
  }

  it('a claim wins at a majority in one round; a rival gets stale, then held with the time left, then the job once released', async () => {
    const { nodes, acceptors } = mesh(3)
    const [a, b] = nodes
    const won = await a.claimant.claim({ job: JOB, acceptors, epoch: 1 })
    expect(won.ok).toBe(true)
    if (!won.ok) return
    expect(checkGrants(won.grants, { mesh: MESH, job: JOB, epoch: 1, acceptors })).toEqual({ ok: true, holder: ids[0].id })
    expect(a.claimant.holds(JOB, 1)).toBe(true)
    const same = await b.claimant.claim({ job: JOB, acceptors, epoch: 1 })
    expect(same).toMatchObject({ ok: false, reason: 'stale', epoch: 1, holder: ids[0].id })
    const next = await b.claimant.claim({ job: JOB, acceptors, epoch: 2 })
    expect(next).toMatchObject({ ok: false, reason: 'held' })
    expect(next.ok === false && (next.waitMs ?? 0) > 0).toBe(true)
    await a.claimant.release(JOB, 1)
    expect(await b.claimant.claim({ job: JOB, acceptors, epoch: 2 })).toMatchObject({ ok: true, epoch: 2 })
    expect(a.acceptor.stats().refused.stale ?? 0).toBeGreaterThan(0)
  })

  it('refuses a claim past the epoch, a forged proof, a claimant without build and an unknown job, each counted by reason', async () => {
    const { nodes, acceptors } = mesh(3)
    const forged = seal(ids[3], LEASE_GRANT, { mesh: MESH, at: Date.now(), re: 1, job: JOB, epoch: 7, holder: ids[3].id, ttl: 3000 }).bytes
    expect(await nodes[0].claimant.claim({ job: JOB, acceptors, epoch: 5 })).toMatchObject({ ok: false, reason: 'bad-epoch' })
    expect(await nodes[0].claimant.claim({ job: JOB, acceptors, epoch: 8, proof: forged })).toMatchObject({ ok: false, reason: 'bad-proof' })
    expect(await nodes[0].claimant.claim({ job: 'ef'.repeat(32), acceptors, epoch: 1 })).toMatchObject({ ok: false, reason: 'unknown-job' })
    const refused = nodes[1].acceptor.stats().refused
    expect(refused['bad-epoch']).toBeGreaterThan(0)
    expect(refused['bad-proof']).toBeGreaterThan(0)
    expect(refused['unknown-job']).toBeGreaterThan(0)
  })

  it('an acceptor that never answers does not hold a claim up; the finish certificate needs a majority of the acceptors', async () => {
    const { nodes, acceptors, network } = mesh(3)
    const claimant = nodes.find(n => !acceptors.slice(2).includes(n.rpc.self))!
    network.setDown(acceptors[2], true)
    const t0 = Date.now()
    const won = await claimant.claimant.claim({ job: JOB, acceptors, epoch: 1 })
    expect(won.ok).toBe(true)
    expect(Date.now() - t0).toBeLessThan(1000)
    const outcome = outcomeOf({ state: 'succeeded' })
    const fin = await claimant.claimant.finish(JOB, 1, { outcome })
    expect(fin.ok).toBe(true)
    if (!fin.ok) return
    const subject = { mesh: MESH, job: JOB, acceptors, holder: claimant.rpc.self, outcome }
    expect(checkVotes(fin.votes, subject).ok).toBe(true)
    expect(checkVotes(fin.votes.slice(0, majority(3) - 1), subject)).toEqual({ ok: false, reason: 'no-quorum' })
    expect(checkVotes(fin.votes, { ...subject, outcome: outcomeOf({ state: 'failed' }) })).toEqual({ ok: false, reason: 'wrong-subject' })
    expect(checkVotes(fin.votes, { ...subject, acceptors: [ids[3].id, ...acceptors.slice(1)] }).ok).toBe(false)
    // a later claim finds the decided result and must finish with it rather than run again
    const later = nodes.find(n => n !== claimant)!
    network.setDown(acceptors[2], false)
    // past the lease's TTL and the acceptors' margin after it: epoch 2 may be granted
    ahead += 3000 + SKEW_MARGIN_MS + 100
    const again = await later.claimant.claim({ job: JOB, acceptors, epoch: 2 })
    expect(again).toMatchObject({ ok: true, adopt: { holder: claimant.rpc.self, outcome } })
  }, 20_000)

  it('a release of a failed claim that arrives after the retry of the same epoch was granted does not free it', async () => {
    // the acceptors' grants of the first attempt are lost, and its releases held back until the
    // retry holds the lease: the order the network may deliver them in
    let phase: 'lose-grants' | 'park-releases' | 'deliver' = 'lose-grants'
    const parked: Array<() => void> = []
    /** acceptors' replies to the first node once the parked releases are delivered: each release was handled */
    let handled = 0
    const isRelease = (bytes: Uint8Array): boolean => {
      const m = openLeaseMessage(bytes)
      return m.type === LEASE_REQUEST && (m.payload as { op?: string }).op === 'release'
    }
    const network = new MemoryNetwork((from, to, bytes, deliver) => {
      if (phase === 'lose-grants' && to === ids[0].id) return
      if (phase !== 'deliver' && from === ids[0].id && isRelease(bytes)) { parked.push(deliver); return }
      if (phase === 'deliver' && to === ids[0].id && openLeaseMessage(bytes).type === LEASE_REPLY) handled++
      setImmediate(deliver)
    })
    const { nodes, acceptors } = mesh(3, network)
    const [a, b] = nodes
    expect(acceptors).toContain(ids[0].id)
    expect(await a.claimant.claim({ job: JOB, acceptors, epoch: 1 })).toMatchObject({ ok: false })
    expect(parked.length).toBe(2)
    phase = 'park-releases'
    // its own acceptor took the release at once: the retry wins at the other two
    expect(await a.claimant.claim({ job: JOB, acceptors, epoch: 1 })).toMatchObject({ ok: true, epoch: 1 })
    phase = 'deliver'
    const releases = parked.length
    for (const deliver of parked.splice(0)) deliver()
    await waitFor(() => handled >= releases, { what: 'the acceptors to answer the late releases' })
    expect(a.claimant.holds(JOB, 1)).toBe(true)
    expect(await b.claimant.claim({ job: JOB, acceptors, epoch: 2 })).toMatchObject({ ok: false, reason: 'held' })
    // a release sent after the retry still frees the lease at once
    await a.claimant.release(JOB, 1)
    expect(await b.claimant.claim({ job: JOB, acceptors, epoch: 2 })).toMatchObject({ ok: true, epoch: 2 })
  })

  it('a restarted acceptor remembers its grants and holds them for a TTL: the job is not granted twice', async () => {
    const stores = ids.map(() => new MemoryVoteStore())
    const first = mesh(3, new MemoryNetwork(), stores)
    expect(await first.nodes[0].claimant.claim({ job: JOB, acceptors: first.acceptors, epoch: 1 })).toMatchObject({ ok: true })
    for (const s of services.splice(0)) s.stop()
    const second = mesh(3, new MemoryNetwork(), stores)
    expect(await second.nodes[1].claimant.claim({ job: JOB, acceptors: second.acceptors, epoch: 2 })).toMatchObject({ ok: false, reason: 'held' })
  })
  it('an acceptor keeps at most its cacheSize records in memory, however many jobs it decided; a record it dropped is read back with its decided result', async () => {
    const jobs = Array.from({ length: 12 }, (_, i) => i.toString(16).padStart(2, '0').repeat(32))
    const network = new MemoryNetwork()
    const stores = ids.map(() => new MemoryVoteStore())
    const members = ids.slice(0, 3).map(i => i.id)
    const nodes = ids.slice(0, 3).map((identity, i) => {
      const s = new LeaseService({
        identity, mesh: MESH, transport: network.transport(identity.id), votes: stores[i],
        lookup: async job => jobs.includes(job) ? members : undefined, isBuilder: () => true, clock
      }, { ttlMs: 3000, callTimeoutMs: 500, cacheSize: 2 })
      s.start()
      services.push(s)
      return s
    })
    const outcome = outcomeOf({ state: 'succeeded' })
    // the content as it arrives at an acceptor: a view into a larger frame
    const frame = new Uint8Array(4096)
    const content = frame.subarray(100, 164).fill(9)
    for (const job of jobs) {
      expect(await nodes[0].claimant.claim({ job, acceptors: members, epoch: 1 })).toMatchObject({ ok: true })
      // decided, never released: the holder finishes instead
      expect(await nodes[0].claimant.finish(job, 1, { outcome, content })).toMatchObject({ ok: true })
    }
    for (const n of nodes) expect(n.acceptor.stats().cached).toBeLessThanOrEqual(2)
    for (const st of stores.slice(0, 3)) {
      const kept = st.records.get(jobs[0])?.accepted?.content
      expect(kept?.byteLength).toBe(64)
      // stored as bytes of their own, not as the view that kept the whole frame
      expect(kept?.buffer.byteLength).toBe(64)
    }
    // the first job's record was dropped everywhere: a later claim, once its lease has lapsed,
    // is granted from the stored record and told to adopt the decided result
    ahead += 3000 + SKEW_MARGIN_MS + 100
    const again = await nodes[1].claimant.claim({ job: jobs[0], acceptors: members, epoch: 2 })
    expect(again).toMatchObject({ ok: false, reason: 'held' })
    // read back, its lease counts as renewed at that moment: one more TTL, never less
    ahead += 3000 + SKEW_MARGIN_MS + 100
    expect(await nodes[1].claimant.claim({ job: jobs[0], acceptors: members, epoch: 2 })).toMatchObject({ ok: true, adopt: { holder: ids[0].id, outcome } })
  }, 20_000)
})

describe('LeaseLinks: the lease protocol between two libp2p nodes on 127.0.0.1', () => {
  const nodes: MeshLibp2p[] = []
  const links: LeaseLinks[] = []
  afterEach(async () => {
    for (const l of links.splice(0)) await l.stop()
    for (const n of nodes.splice(0)) await n.stop()
  })

  it('claims, renews and finishes over one long-lived stream per pair, opened once', async () => {
    const [x, y] = ids
    for (const identity of [x, y]) nodes.push(await createMeshLibp2p({ privateKey: identity.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], isAllowed: () => true }))
    await nodes[0].dial(nodes[1].getMultiaddrs()[0])
    const acceptors = [x.id, y.id]
    const services = [x, y].map((identity, i) => {
      const l = new LeaseLinks({ libp2p: nodes[i], isAllowed: () => true }, { keepaliveMs: 200, idleTimeoutMs: 1000 })
      links.push(l)
      return new LeaseService({ identity, mesh: MESH, transport: l, votes: new MemoryVoteStore(), lookup: async () => acceptors, isBuilder: () => true }, { ttlMs: 3000, renewEveryMs: 300 })
    })
    await links[0].start(x.id)
    await links[1].start(y.id)
    for (const s of services) s.start()
    try {
      expect(await services[0].claimant.claim({ job: JOB, acceptors, epoch: 1 })).toMatchObject({ ok: true })
      // renewals and keepalives go on over the same stream for longer than the idle timeout
      // (a deliberate fixed wait: time must pass the idle timeout to show the stream is not closed)
      await new Promise(resolve => setTimeout(resolve, 1500))
      expect(services[0].claimant.holds(JOB, 1)).toBe(true)
      expect(links[0].peers()).toEqual([y.id])
      expect(nodes[0].getConnections()[0].streams.filter(s => s.protocol === '/cit/lease/1.0.0').length).toBe(1)
      expect(await services[1].claimant.claim({ job: JOB, acceptors, epoch: 2 })).toMatchObject({ ok: false, reason: 'held' })
      const fin = await services[0].claimant.finish(JOB, 1, { outcome: outcomeOf('done') })
      expect(fin.ok).toBe(true)
    } finally {
      for (const s of services) s.stop()
    }
  }, 20_000)
})
