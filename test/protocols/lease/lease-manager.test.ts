import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LeaseManager } from '../../../protocols/lease/index.js'
import { waitFor } from '../net/helpers.js'
import { LeaseMesh, newJob } from './helpers.js'
import type { ClaimResult, RenewResult } from '../../../protocols/lease/index.js'
import type { LeaseNode } from './helpers.js'

const TTL_MS = 1500
const INIT = { ttlMs: TTL_MS, settleMs: 150, renewEveryMs: 400 }

/** claim every 50 ms until it succeeds; returns the refusals seen before it */
async function claimWhenFree (node: LeaseNode, job: string, timeoutMs = TTL_MS + 10_000): Promise<{ result: ClaimResult, refusals: ClaimResult[], at: number }> {
  const refusals: ClaimResult[] = []
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const result = await node.leases.claim(job)
    if (result.ok) return { result, refusals, at: Date.now() }
    refusals.push(result)
    if (Date.now() > deadline) throw new Error(`claim still refused: ${JSON.stringify(result)}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

describe('LeaseManager on real kad-dht (4 nodes on 127.0.0.1)', () => {
  let lm: LeaseMesh
  let a: LeaseNode, b: LeaseNode, c: LeaseNode, d: LeaseNode

  beforeAll(async () => {
    lm = new LeaseMesh();
    [a, b, c, d] = await lm.start(4, INIT)
  })
  afterAll(async () => { await lm.stop() })

  it('claims a job, and every other node reads the claim', async () => {
    const job = newJob()
    const claim = await a.leases.claim(job)
    expect(claim).toMatchObject({ ok: true, epoch: 1 })
    if (!claim.ok) return
    expect(claim.expiresAt).toBeGreaterThan(Date.now())
    for (const other of [b, c, d]) {
      expect(await other.leases.read(job)).toMatchObject({ job, holder: a.identity.id, epoch: 1, expiresAt: claim.expiresAt })
    }
    expect(await a.leases.holds(job, 1)).toBe(true)
    expect(await a.leases.holds(job, 2)).toBe(false)
    expect(await b.leases.holds(job, 1)).toBe(false)
  })

  it('claims its own live lease again at the next epoch, fencing the first', async () => {
    const job = newJob()
    expect(await d.leases.claim(job)).toMatchObject({ ok: true, epoch: 1 })
    expect(await d.leases.claim(job)).toMatchObject({ ok: true, epoch: 2 })
    expect(await d.leases.holds(job, 1)).toBe(false)
    expect(await d.leases.holds(job, 2)).toBe(true)
    expect(await d.leases.renew(job, 1)).toMatchObject({ ok: false, reason: 'lost', holder: d.identity.id, epoch: 2 })
  })

  it('refuses a second claim while the lease is live', async () => {
    const job = newJob()
    const claim = await a.leases.claim(job)
    expect(claim.ok).toBe(true)
    expect(await b.leases.claim(job)).toMatchObject({ ok: false, reason: 'held', holder: a.identity.id, epoch: 1 })
    expect(await c.leases.read(job)).toMatchObject({ holder: a.identity.id, epoch: 1 })
  })

  it('asks the caller about the lease it read before claiming: a reason not to claim leaves the lease alone', async () => {
    const job = newJob()
    const first = await a.leases.claim(job)
    if (!first.ok) throw new Error(`claim failed: ${JSON.stringify(first)}`)
    expect(await a.leases.release(job, 1)).toBe(true)
    // the released lease is what the caller is shown; its reason is passed back and nothing is put
    const seen: unknown[] = []
    const refused = await b.leases.claim(job, { refuse: lease => { seen.push(lease); return 'not yet' } })
    expect(refused).toMatchObject({ ok: false, reason: 'refused', detail: 'not yet', holder: a.identity.id, epoch: 1 })
    expect(seen).toMatchObject([{ job, holder: a.identity.id, epoch: 1 }])
    expect(await c.leases.read(job)).toMatchObject({ holder: a.identity.id, epoch: 1 })
    // no reason: the claim goes on as usual
    expect(await b.leases.claim(job, { refuse: () => undefined })).toMatchObject({ ok: true, epoch: 2 })
    // a live lease of another node is refused before the caller is asked
    let asked = false
    expect(await c.leases.claim(job, { refuse: () => { asked = true; return 'no' } })).toMatchObject({ ok: false, reason: 'held', holder: b.identity.id })
    expect(asked).toBe(false)
  })

  it('lets another node claim after expiry at the next epoch; the old holder then learns it lost', async () => {
    const job = newJob()
    const first = await a.leases.claim(job)
    if (!first.ok) throw new Error(`claim failed: ${JSON.stringify(first)}`)
    const { result, refusals, at } = await claimWhenFree(b, job)
    expect(result).toMatchObject({ ok: true, epoch: 2 })
    expect(at).toBeGreaterThanOrEqual(first.expiresAt)
    expect(refusals.every(r => !r.ok && r.reason === 'held' && r.holder === a.identity.id)).toBe(true)
    expect(await a.leases.renew(job, 1)).toMatchObject({ ok: false, reason: 'lost', holder: b.identity.id, epoch: 2 })
    expect(await a.leases.holds(job, 1)).toBe(false)
    expect(await b.leases.holds(job, 2)).toBe(true)
    expect(await d.leases.read(job)).toMatchObject({ holder: b.identity.id, epoch: 2 })
  })

  it('refuses to renew a lease that lapsed, even with no rival; a new claim takes the next epoch', async () => {
    const job = newJob()
    const first = await c.leases.claim(job)
    if (!first.ok) throw new Error('claim failed')
    await waitFor(() => Date.now() > first.expiresAt, 'the lease to expire', TTL_MS + 5_000)
    expect(await c.leases.renew(job, 1)).toMatchObject({ ok: false, reason: 'expired', epoch: 1 })
    expect(await c.leases.holds(job, 1)).toBe(false)
    expect(await c.leases.claim(job)).toMatchObject({ ok: true, epoch: 2 })
  })

  it('keeps a renewed lease past its first expiry, and frees it when renewing stops', async () => {
    const job = newJob()
    const first = await a.leases.claim(job)
    if (!first.ok) throw new Error('claim failed')
    const renewed = await a.leases.renew(job, 1)
    expect(renewed).toMatchObject({ ok: true, epoch: 1 })
    if (!renewed.ok) return
    expect(renewed.expiresAt).toBeGreaterThan(first.expiresAt)
    const lost: RenewResult[] = []
    const stop = a.leases.keepAlive(job, 1, renewed.expiresAt, { onLost: (r) => { lost.push(r) } })
    // two full TTLs past the claim's own expiry, rivals are refused all along
    const until = first.expiresAt + 2 * TTL_MS
    while (Date.now() < until) {
      expect(await b.leases.claim(job)).toMatchObject({ ok: false, reason: 'held', holder: a.identity.id })
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect(await a.leases.holds(job, 1)).toBe(true)
    stop()
    const { result } = await claimWhenFree(b, job)
    expect(result).toMatchObject({ ok: true, epoch: 2 })
    expect(lost).toEqual([])
  })

  it('hands a released lease to the next claimer at once', async () => {
    const job = newJob()
    const first = await a.leases.claim(job)
    if (!first.ok) throw new Error('claim failed')
    const lost: RenewResult[] = []
    a.leases.keepAlive(job, 1, first.expiresAt, { onLost: (r) => { lost.push(r) } })
    expect(await a.leases.release(job, 1)).toBe(true)
    expect(await c.leases.read(job)).toMatchObject({ holder: a.identity.id, epoch: 1 })
    expect(await b.leases.claim(job)).toMatchObject({ ok: true, epoch: 2 })
    expect(Date.now()).toBeLessThan(first.expiresAt)
    // not ours any more: nothing to release, and the new holder keeps it
    expect(await a.leases.release(job, 1)).toBe(false)
    expect(await b.leases.holds(job, 2)).toBe(true)
    // release stopped the renewals: a running one would find b's lease within a period and report it
    const quiet = Date.now() + 3 * INIT.renewEveryMs
    await waitFor(() => Date.now() > quiet, 'three renewal periods')
    expect(lost).toEqual([])
    expect(await a.leases.read(job)).toMatchObject({ holder: b.identity.id, epoch: 2 })
  })

  it('lets a node whose clock runs ahead take a live lease: the epoch fences the old holder', async () => {
    const job = newJob()
    const lost: RenewResult[] = []
    const first = await a.leases.claim(job)
    if (!first.ok) throw new Error('claim failed')
    a.leases.keepAlive(job, 1, first.expiresAt, { onLost: (r) => { lost.push(r) } })
    // 3 s ahead: within the validators' skew allowance, past the lease's expiry by its own clock
    const skewed = lm.manager(b.node, b.identity, INIT, { now: () => Date.now() + 3_000 })
    await skewed.start()
    expect(await skewed.claim(job)).toMatchObject({ ok: true, epoch: 2 })
    await waitFor(() => lost.length > 0, 'the old holder\'s renewal to find it lost', 5_000)
    expect(lost[0]).toMatchObject({ ok: false, reason: 'lost', holder: b.identity.id, epoch: 2 })
    expect(await a.leases.holds(job, 1)).toBe(false)
    await skewed.stop()
  })

  it('gives at most one winner when three nodes claim a job at once (10 rounds)', async () => {
    const winnersPerRound: number[] = []
    for (let round = 0; round < 10; round++) {
      const job = newJob()
      const claimers = [a, b, c]
      const results = await Promise.all(claimers.map(async n => await n.leases.claim(job)))
      const winners = claimers.filter((_, i) => results[i].ok)
      winnersPerRound.push(winners.length)
      expect(winners.length).toBeLessThanOrEqual(1)
      for (const r of results) expect(r.ok || r.reason === 'lost-race' || r.reason === 'held').toBe(true)
      // every node, the bystander too, selects the same holder: the winner, when there is one
      const seen = await Promise.all([a, b, c, d].map(async n => (await n.leases.read(job))?.holder))
      expect(new Set(seen).size).toBe(1)
      if (winners.length === 1) expect(seen[0]).toBe(winners[0].identity.id)
    }
    const zero = winnersPerRound.filter(n => n === 0).length
    console.info(`lease race: ${10 - zero}/10 rounds had one winner, ${zero} had none`)
    expect(zero).toBeLessThan(10)
  })
})

describe('LeaseManager lifecycle and failures', () => {
  let lm: LeaseMesh
  afterEach(async () => { await lm.stop() })

  it('fails a claim with ERR_TIMEOUT when no peer can be reached, and holds() says no', async () => {
    lm = new LeaseMesh()
    const [alone] = await lm.start(1)
    const leases = lm.manager(alone.node, alone.identity, { ttlMs: 2000, callTimeoutMs: 300 })
    await leases.start()
    const job = newJob()
    const claim = await leases.claim(job)
    expect(claim).toMatchObject({ ok: false, reason: 'error' })
    expect((claim as { error: { code: string } }).error.code).toBe('ERR_TIMEOUT')
    await expect(leases.read(job)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
    expect(await leases.holds(job, 1)).toBe(false)
  })

  it('throws ERR_ABORTED for the caller\'s signal and for a stop mid-call, ERR_NOT_STARTED when stopped', async () => {
    lm = new LeaseMesh()
    const [alone] = await lm.start(1)
    const leases = lm.manager(alone.node, alone.identity, { ttlMs: 2000, callTimeoutMs: 10_000 })
    const job = newJob()
    await expect(leases.claim(job)).rejects.toMatchObject({ code: 'ERR_NOT_STARTED' })
    await leases.start()
    await leases.start()
    const controller = new AbortController()
    const pending = leases.claim(job, { signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    // nothing answers this lone node: only stop() ends the read
    const reading = leases.read(job)
    const started = Date.now()
    await leases.stop()
    await expect(reading).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    expect(Date.now() - started).toBeLessThan(2_000)
    await leases.stop()
    await expect(leases.renew(job, 1)).rejects.toMatchObject({ code: 'ERR_NOT_STARTED' })
    expect(() => leases.keepAlive(job, 1, Date.now())).toThrow(expect.objectContaining({ code: 'ERR_NOT_STARTED' }))
  })

  it('names every bad option and argument', async () => {
    lm = new LeaseMesh()
    const [n] = await lm.start(1)
    const err = (() => {
      try {
        return new LeaseManager({ dht: n.node.services.dht, identity: n.identity }, { ttlMs: 0, settleMs: -1, renewEveryMs: 1.5, callTimeoutMs: 0 })
      } catch (e) {
        return e as { code: string, problems: string[] }
      }
    })() as { code: string, problems: string[] }
    expect(err.code).toBe('ERR_INVALID_OPTION')
    for (const name of ['ttlMs', 'settleMs', 'renewEveryMs', 'callTimeoutMs']) expect(err.problems.some(p => p.startsWith(name))).toBe(true)
    expect(() => new LeaseManager({ dht: n.node.services.dht, identity: n.identity }, { ttlMs: 10 * 60_000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    await n.leases.start()
    await expect(n.leases.claim('not-a-job')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
  })
})
