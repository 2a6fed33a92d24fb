import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Identity } from '../../../protocols/codec/index.js'
import { LEASE_RETAIN_MS, leaseKey, makeLease } from '../../../protocols/lease/index.js'
import { payloadOf, tamper } from './fixtures.js'
import { LeaseMesh, newJob, rawGet, rawPut } from './helpers.js'
import type { LeaseNode } from './helpers.js'

describe('lease records at peers (real kad-dht, 4 nodes, one of them not a builder)', () => {
  let lm: LeaseMesh
  let nodes: LeaseNode[]
  let outsider: LeaseNode

  beforeAll(async () => {
    lm = new LeaseMesh()
    nodes = await lm.start(4, { ttlMs: 2000, settleMs: 150 }, { builders: 3 })
    outsider = nodes[3]
  })
  afterAll(async () => { await lm.stop() })

  /** put `bytes` under `job` from `from`; assert no peer stored it and no other node reads it */
  async function expectRefused (from: LeaseNode, job: string, bytes: Uint8Array): Promise<void> {
    const key = leaseKey(job)
    const { accepted, refused } = await rawPut(from.node, key, bytes)
    const others = nodes.filter(n => n !== from)
    expect([...accepted]).toEqual([])
    for (const other of others) expect(refused.has(other.identity.id)).toBe(true)
    for (const other of others) {
      expect(await rawGet(other.node, key)).toEqual([])
      expect(await other.leases.read(job)).toBeUndefined()
    }
  }

  it('stores and returns a valid record put the same raw way (the control)', async () => {
    const job = newJob()
    const { bytes } = makeLease(nodes[0].identity, job, 1, 2000, Date.now())
    const { accepted } = await rawPut(nodes[0].node, leaseKey(job), bytes)
    expect(accepted.size).toBe(3)
    for (const other of nodes.slice(1)) {
      expect(await rawGet(other.node, leaseKey(job))).toEqual([bytes])
      expect((await other.leases.read(job))?.holder).toBe(nodes[0].identity.id)
    }
  })

  it('refuses a tampered record', async () => {
    const job = newJob()
    const { bytes } = makeLease(nodes[0].identity, job, 1, 2000, Date.now())
    await expectRefused(nodes[0], job, tamper(bytes, { epoch: 50 }))
  })

  it('refuses a record whose holder is not a builder, and the outsider cannot claim', async () => {
    const job = newJob()
    await expectRefused(outsider, job, makeLease(outsider.identity, job, 1, 2000, Date.now()).bytes)
    const claim = await outsider.leases.claim(newJob())
    expect(claim).toMatchObject({ ok: false, reason: 'error' })
    expect((claim as { error: { code: string } }).error.code).toBe('ERR_LEASE_UNREACHABLE')
  })

  it('refuses a record stored under another job\'s key', async () => {
    const job = newJob()
    const { bytes } = makeLease(nodes[0].identity, newJob(), 1, 2000, Date.now())
    await expectRefused(nodes[0], job, bytes)
  })

  it('refuses a record that expired longer ago than the retention', async () => {
    const job = newJob()
    const at = Date.now() - LEASE_RETAIN_MS - 60_000
    await expectRefused(nodes[0], job, makeLease(nodes[0].identity, job, 3, 2000, at).bytes)
  })

  it('refuses a record signed by someone other than its holder', async () => {
    const job = newJob()
    const { seal } = await import('../../../protocols/codec/index.js')
    const forged = seal(nodes[0].identity, 'lease', payloadOf(job, nodes[1].identity.id, 1, Date.now(), 2000)).bytes
    await expectRefused(nodes[0], job, forged)
  })

  it('refuses the claims of a node whose clock runs far ahead', async () => {
    const ahead = lm.manager(nodes[1].node, nodes[1].identity, { ttlMs: 2000, settleMs: 150 }, { now: () => Date.now() + 60_000 })
    await ahead.start()
    const job = newJob()
    const claim = await ahead.claim(job)
    expect(claim).toMatchObject({ ok: false, reason: 'error' })
    // the refused claim sits only in that node's own store, where kad-dht put it unchecked:
    // the other nodes do not see it and claim normally
    expect(await nodes[2].leases.read(job)).toBeUndefined()
    expect(await nodes[2].leases.claim(job)).toMatchObject({ ok: true, epoch: 1 })
  })

  it('applies the manager\'s own build-role check to what it reads', async () => {
    const job = newJob()
    expect(await nodes[0].leases.claim(job)).toMatchObject({ ok: true })
    const strict = lm.manager(nodes[2].node, nodes[2].identity, { ttlMs: 2000 }, { isBuilder: (peer) => peer !== nodes[0].identity.id })
    await strict.start()
    expect(await strict.read(job)).toBeUndefined()
    expect((await nodes[2].leases.read(job))?.holder).toBe(nodes[0].identity.id)
  })

  it('ignores an invalid record in this node\'s own store', async () => {
    const job = newJob()
    const stranger = await Identity.generate()
    // kad-dht stores its own put unchecked, but checks it when read
    await rawPut(nodes[0].node, leaseKey(job), makeLease(stranger, job, 9, 2000, Date.now()).bytes)
    expect(await nodes[0].leases.read(job)).toBeUndefined()
    expect(await nodes[0].leases.claim(job)).toMatchObject({ ok: true, epoch: 1 })
  })
})
