import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseJobFile } from '../../../protocols/job/parse.js'
import { PeerTable } from '../../../node/mesh/peer-table.js'
import { MeshClaimer, SECOND_TURN_MS, STAGGER_MS } from '../../../node/scheduler/mesh-claimer.js'
import { MetaStore } from '../../../store/meta/meta-store.js'
import { silentLogger } from '../../../store/logger.js'
import type { LoadReport } from '../../../protocols/load/index.js'
import type { LeaseClaimant } from '../../../protocols/lease/index.js'
import type { Offer } from '../../../node/scheduler/admission.js'
import type { JobRow } from '../../../node/jobs/types.js'

const NODES = ['node-a', 'node-b', 'node-c']

function report (node: string, fields: Partial<LoadReport> = {}): LoadReport {
  return {
    node, at: Date.now(), seq: 1, load1: 0.5, cores: 2, memFreeBytes: 8 << 30, memTotalBytes: 16 << 30,
    slots: 2, slotsFree: 2, labels: [], state: 'active', running: [], addrs: [], workspaces: [], loadLimit: 2, ...fields
  }
}

function row (id: string): JobRow {
  const { spec, problems } = parseJobFile('name: ranked\nstages:\n  - steps:\n      - echo ranked\n')
  if (spec == null) throw new Error(`bad test job: ${JSON.stringify(problems)}`)
  return { id, name: 'ranked', spec, state: 'queued' } as unknown as JobRow
}

describe('MeshClaimer.plan: every node ranks on what all have heard', () => {
  let dir: string
  const stores: MetaStore[] = []
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'cit-claimer-')) })
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop()
    await rm(dir, { recursive: true, force: true })
  })

  /** a claimer for `self` whose peer table holds `published`, and whose own state now is `fresh` */
  async function claimer (self: string, published: LoadReport[], fresh: LoadReport, onSample = (): void => {}): Promise<MeshClaimer> {
    const meta = new MetaStore({}, { path: join(dir, `${self}-${stores.length}`) })
    await meta.start()
    stores.push(meta)
    const peers = new PeerTable(meta)
    await peers.start()
    for (const r of published) await peers.update(r)
    return new MeshClaimer({
      self,
      lease: {} as unknown as LeaseClaimant,
      peers,
      ownOffer: (): Offer => { onSample(); return { report: fresh, canBuild: true } },
      canBuild: () => true,
      isMember: () => true,
      announcement: async () => undefined,
      caughtUp: () => true,
      logger: silentLogger
    })
  }

  it('gives each node its own turn although each one\'s own state is fresher than its report', async () => {
    // every node reported the same load; each has just become lighter than its report says
    const published = NODES.map(n => report(n, { load1: 1.6 }))
    const delays = await Promise.all(NODES.map(async n => {
      const c = await claimer(n, published, report(n, { load1: 0.2 }))
      const plan = c.plan(row('job-1'))
      if (!('delayMs' in plan)) throw new Error(`skipped: ${plan.skip}`)
      return plan.delayMs
    }))
    // one node first, the second once the first one's `started` has had time to arrive, the
    // others one stagger apart: no two attempts at once
    expect([...delays].sort((a, b) => a - b)).toEqual([0, SECOND_TURN_MS, SECOND_TURN_MS + STAGGER_MS])
  })

  it('ranks nodes whose reports say they are full after the others, in the same order everywhere', async () => {
    // a and b reported no free slot, c has one; all three have a free slot now
    const published = [report('node-a', { slotsFree: 0 }), report('node-b', { slotsFree: 0 }), report('node-c')]
    const delays = new Map<string, number>()
    for (const n of NODES) {
      const plan = (await claimer(n, published, report(n))).plan(row('job-2'))
      if (!('delayMs' in plan)) throw new Error(`skipped: ${plan.skip}`)
      delays.set(n, plan.delayMs)
    }
    expect(delays.get('node-c')).toBe(0)
    expect([delays.get('node-a'), delays.get('node-b')].sort()).toEqual([SECOND_TURN_MS, SECOND_TURN_MS + STAGGER_MS])
  })

  it('skips a job pinned to another node without sampling its own state, and plans one pinned to itself', async () => {
    const published = NODES.map(n => report(n))
    let sampled = 0
    const counting = await claimer('node-a', published, report('node-a'), () => { sampled++ })
    expect(counting.plan({ ...row('job-7'), runOn: 'node-b' })).toEqual({ skip: 'pinned to another node' })
    expect(sampled).toBe(0)
    expect(counting.plan({ ...row('job-8'), runOn: 'node-a' })).toEqual({ delayMs: 0 })
    expect(sampled).toBe(1)
  })

  it('on equal load, the node the job was submitted on goes first', async () => {
    const published = NODES.map(n => report(n))
    for (const origin of NODES) {
      const plan = (await claimer(origin, published, report(origin))).plan({ ...row(`job-4-${origin}`), origin })
      expect(plan).toEqual({ delayMs: 0 })
    }
  })

  it('the node the job was submitted on goes before one whose report is lighter only by what reports cannot show, after one lighter for real', async () => {
    // reports go out again only when load1 moves by 0.5 (or a quarter): 1.6 against 1.3 on 2 cores is noise
    const noise = [report('node-a', { load1: 1.3 }), report('node-b', { load1: 1.3 }), report('node-c', { load1: 1.6 })]
    const first = async (published: LoadReport[]): Promise<string[]> => {
      const out: string[] = []
      for (const n of NODES) {
        const plan = (await claimer(n, published, report(n))).plan({ ...row('job-6'), origin: 'node-c' })
        if ('delayMs' in plan && plan.delayMs === 0) out.push(n)
      }
      return out
    }
    expect(await first(noise)).toEqual(['node-c'])
    // 0.2 against 1.6 on 2 cores: node-a and node-b are lighter for real; one of them goes first
    const lighter = [report('node-a', { load1: 0.2 }), report('node-b', { load1: 0.2 }), report('node-c', { load1: 1.6 })]
    const firstOnes = await first(lighter)
    expect(firstOnes).toHaveLength(1)
    expect(firstOnes[0]).not.toBe('node-c')
  })

  it('the node the job was submitted on, ranked lower, keeps the plain stagger; the others wait the second turn', async () => {
    // node-a holds the job's workspace and ranks first; node-c is the job's origin
    const published = [report('node-a', { workspaces: ['ranked'] }), report('node-b'), report('node-c')]
    const delays = new Map<string, number>()
    for (const n of NODES) {
      const plan = (await claimer(n, published, report(n))).plan({ ...row('job-5'), origin: 'node-c' })
      if (!('delayMs' in plan)) throw new Error(`skipped: ${plan.skip}`)
      delays.set(n, plan.delayMs)
    }
    expect(delays.get('node-a')).toBe(0)
    expect(delays.get('node-c')).toBe(STAGGER_MS)
    expect(delays.get('node-b')).toBe(SECOND_TURN_MS + STAGGER_MS)
  })

  it('a node that cannot take the job now skips it, whatever its report says', async () => {
    const c = await claimer('node-a', NODES.map(n => report(n)), report('node-a', { slotsFree: 0 }))
    expect(c.plan(row('job-3'))).toEqual({ skip: 'no free slot' })
  })
})

describe('MeshClaimer: an acceptor\'s word for a higher epoch, kept until the job ends', () => {
  it('keeps the proof as bytes of its own, hands it to the next claim, and lets go of it when told the job ended', async () => {
    const job = 'ab'.repeat(32)
    // the proof as it arrives: a view into the reply's larger frame
    const frame = new Uint8Array(16_384)
    const proof = frame.subarray(1000, 1200).fill(5)
    const asked: Array<{ epoch: number, proof?: Uint8Array }> = []
    const lease = {
      claim: async (args: { epoch: number, proof?: Uint8Array }) => {
        asked.push({ epoch: args.epoch, proof: args.proof })
        return { ok: false, reason: 'stale', epoch: 3, holder: 'node-b', proof }
      }
    } as unknown as LeaseClaimant
    const dir = await mkdtemp(join(tmpdir(), 'cit-claimer-known-'))
    const meta = new MetaStore({}, { path: dir })
    await meta.start()
    try {
      const peers = new PeerTable(meta)
      await peers.start()
      const c = new MeshClaimer({
        self: 'node-a', lease, peers, ownOffer: (): Offer => ({ report: report('node-a'), canBuild: true }), canBuild: () => true,
        isMember: () => true, announcement: async () => undefined, caughtUp: () => true, logger: silentLogger
      })
      const r = { ...row(job), acceptors: ['node-a', 'node-b', 'node-c'] } as JobRow
      expect(await c.claim(r, AbortSignal.timeout(5000))).toMatchObject({ ok: false, reason: 'stale' })
      expect(c.remembered).toBe(1)
      await c.claim(r, AbortSignal.timeout(5000))
      // the second claim goes past the epoch the acceptor named, with its word for it
      expect(asked[1].epoch).toBe(4)
      expect([...asked[1].proof!]).toEqual([...proof])
      expect(asked[1].proof!.buffer.byteLength).toBe(200)
      c.forget(job)
      expect(c.remembered).toBe(0)
    } finally {
      await meta.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
