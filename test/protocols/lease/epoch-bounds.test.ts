import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../../protocols/codec/index.js'
import {
  closestAcceptors, LEASE_GRANT, LEASE_REQUEST, LeaseService, MAX_EPOCH, MAX_EPOCH_LEAP, MemoryNetwork, MemoryVoteStore, openLeaseMessage
} from '../../../protocols/lease/index.js'
import { validateEvent } from '../../../protocols/job/index.js'

const MESH = 'ab'.repeat(32)
const JOB = 'cd'.repeat(32)

let ids: Identity[] = []
beforeAll(async () => { ids = await Promise.all(Array.from({ length: 3 }, async () => await Identity.generate())) })

describe('lease epochs are bounded: nobody parks a job at an epoch with no successor', () => {
  const services: LeaseService[] = []
  afterEach(() => { for (const s of services.splice(0)) s.stop() })

  function mesh (): { nodes: LeaseService[], acceptors: string[], stores: MemoryVoteStore[] } {
    const network = new MemoryNetwork()
    const stores = ids.map(() => new MemoryVoteStore())
    const acceptors = closestAcceptors(JOB, ids.map(i => i.id))
    const nodes = ids.map((identity, i) => {
      const s = new LeaseService({
        identity, mesh: MESH, transport: network.transport(identity.id), votes: stores[i],
        lookup: async job => job === JOB ? acceptors : undefined, isBuilder: () => true
      }, { ttlMs: 3000, callTimeoutMs: 500 })
      s.start()
      services.push(s)
      return s
    })
    return { nodes, acceptors, stores }
  }

  it('a claim, a grant or an event at epoch 2^53-1 (or past MAX_EPOCH) is malformed', () => {
    const at = Date.now()
    for (const epoch of [Number.MAX_SAFE_INTEGER, MAX_EPOCH + 1]) {
      const claim = seal(ids[0], LEASE_REQUEST, { mesh: MESH, at, rid: 1, op: 'claim', job: JOB, epoch, ttl: 3000 }).bytes
      expect(() => openLeaseMessage(claim)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_LEASE' }))
      const grant = seal(ids[0], LEASE_GRANT, { mesh: MESH, at, re: 1, job: JOB, epoch, holder: ids[1].id, ttl: 3000 }).bytes
      expect(() => openLeaseMessage(grant)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_LEASE' }))
      expect(validateEvent({ job: JOB, type: 'started', node: ids[0].id, at, state: 'running', epoch }).problem).toMatch(/epoch/)
    }
  })

  it('one acceptor\'s word for a huge epoch moves no other acceptor: the claim past it is bad-epoch and the job stays claimable', async () => {
    const { nodes, acceptors, stores } = mesh()
    // the acceptor ids[2] signs a grant at the last epoch messages allow, as its "proof"
    const huge = seal(ids[2], LEASE_GRANT, { mesh: MESH, at: Date.now(), re: 1, job: JOB, epoch: MAX_EPOCH - 1, holder: ids[2].id, ttl: 3000 }).bytes
    const r = await nodes[0].claimant.claim({ job: JOB, acceptors, epoch: MAX_EPOCH, proof: huge })
    expect(r).toMatchObject({ ok: false, reason: 'bad-epoch' })
    for (const n of nodes) expect(n.acceptor.stats().refused['bad-epoch'] ?? 0).toBeGreaterThan(0)
    for (const s of stores) expect([...s.records.values()].every(v => v.epoch < MAX_EPOCH - 1)).toBe(true)
    // a lagging acceptor still catches up a few epochs on another's word
    const near = seal(ids[2], LEASE_GRANT, { mesh: MESH, at: Date.now(), re: 2, job: JOB, epoch: MAX_EPOCH_LEAP - 1, holder: ids[2].id, ttl: 3000 }).bytes
    expect(await nodes[1].claimant.claim({ job: JOB, acceptors, epoch: MAX_EPOCH_LEAP, proof: near })).toMatchObject({ ok: true, epoch: MAX_EPOCH_LEAP })
  })
})
