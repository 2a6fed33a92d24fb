/**
 * The simulated mesh: N SimNodes in one process on virtual time, the gossip model and the real
 * lease code over one simulated network, an idle phase that measures background traffic, then a
 * jobs phase that submits M jobs at random nodes and runs until every job has an accepted result
 * that every node heard of (or the horizon). See docs/benchmarks.md, "A simulated mesh of 1,000 nodes".
 */
import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { rank } from '../../node/scheduler/admission.js'
import { Identity, open, sha256Hex } from '../../protocols/codec/index.js'
import { validateAnnouncement } from '../../protocols/job/index.js'
import { closestAcceptors, MemoryNetwork, VirtualTime } from '../../protocols/lease/index.js'
import { idleHeartbeatMs } from '../../protocols/load/index.js'
import { CONNECTION_PING_INTERVAL_MS } from '../../protocols/net/constants.js'
import { GOSSIP_HEARTBEAT_MS, GOSSIP_HISTORY_GOSSIP, GossipModel } from './gossip.js'
import { Ledger } from './ledger.js'
import { Links, Rng } from './links.js'
import { announce, builderDigest, Checker, loadReport, simSpec } from './messages.js'
import { SimNode } from './node.js'
import type { Heard } from './messages.js'
import type { Summary } from './ledger.js'
import type { LoadReport } from '../../protocols/load/index.js'

export interface SimOptions {
  nodes: number
  jobs: number
  /** one-way link latency range, ms */
  latencyMs: [number, number]
  /** probability that one message is lost */
  loss: number
  seed: number
  /** connections a node dials up to (links are both ways, so some have more) */
  peers: number
  /** virtual time a job runs */
  workMs: number
  /** submissions per virtual second */
  submitPerS: number
  /** the idle window measured, virtual seconds (after one load heartbeat of warm-up) */
  idleS: number
  /** fraction of first copies whose Ed25519 signature is checked (the rest are decoded and validated only) */
  verifyRate: number
  slots: number
  /** virtual time after the last submission at which the run gives up */
  horizonS: number
}

export interface SimResult extends Summary {
  nodes: number
  messages_per_node_per_s_idle: number
  idle_messages_by_kind: Record<string, number>
  jobs_phase_messages_per_job: number
  lease_messages: number
  lost_messages: number
  virtual_s: number
  callbacks: number
  verified_copies: number
  unverified_copies: number
  refused_copies: number
}

/** virtual time before the idle window: GOSSIP_HISTORY_GOSSIP heartbeats, so IHAVE windows are full */
const IDLE_WARMUP_MS = GOSSIP_HISTORY_GOSSIP * GOSSIP_HEARTBEAT_MS

/** the wall-clock time at virtual 0 (signed times must look like times) */
const EPOCH_MS = Date.UTC(2026, 0, 1)
/** nodes' clocks differ by up to this much either way (well within the lease's skew window) */
const CLOCK_SPREAD_MS = 100

const MESH = createHash('sha256').update('cit-sim mesh').digest('hex')

async function identities (seed: number, n: number): Promise<Identity[]> {
  const out: Identity[] = []
  for (let i = 0; i < n; i++) {
    out.push(new Identity(await generateKeyPairFromSeed('Ed25519', createHash('sha256').update(`cit-sim/${seed}/${i}`).digest())))
  }
  return out
}

function report (node: string, slots: number, slotsFree: number, seq: number, at: number): LoadReport {
  return {
    node, at, seq, load1: 0, cores: 4, memFreeBytes: 8 * 2 ** 30, memTotalBytes: 16 * 2 ** 30, slots, slotsFree,
    labels: [], state: 'active', running: [], addrs: [], workspaces: [], loadLimit: 1, mesh: MESH
  }
}

export class SimMesh {
  readonly vt = new VirtualTime()
  readonly ledger: Ledger
  readonly links: Links
  readonly gossip: GossipModel
  readonly checker: Checker
  private readonly rng: Rng
  private readonly nodes: SimNode[] = []
  private readonly index = new Map<string, number>()
  private readonly jobOfMsg = new Map<number, string>()
  private readonly turns = new Map<string, Map<string, number>>()
  /** each job's submitter (ranked first among equal loads) */
  private readonly jobsOrigin = new Map<string, string>()
  private stash?: Heard
  private background: Array<{ cancelled: boolean }> = []

  private constructor (private readonly o: SimOptions, ids: Identity[]) {
    this.rng = new Rng(o.seed)
    this.ledger = new Ledger(o.nodes)
    this.links = new Links(this.vt, { latencyMs: o.latencyMs, loss: o.loss, seed: o.seed })
    this.checker = new Checker(new Rng(o.seed ^ 0xc0ffee), o.verifyRate)
    ids.forEach((id, i) => this.index.set(id.id, i))
    const net = new MemoryNetwork((from, to, _bytes, deliver) => {
      this.links.send('lease', this.index.get(from)!, this.index.get(to)!, deliver)
    })
    const ctx = {
      vt: this.vt, mesh: MESH, ledger: this.ledger, workMs: o.workMs, slots: o.slots,
      turnOf: (job: string, node: string) => this.turnOf(job, node),
      publish: (from: number, bytes: Uint8Array) => { this.gossip.publish(from, bytes) },
      checkAnnouncement: (ann: Uint8Array) => checkAnnouncement(ann)
    }
    for (const [i, id] of ids.entries()) this.nodes.push(new SimNode(i, id, net.transport(id.id), ctx, EPOCH_MS + Math.round((this.rng.float() - 0.5) * 2 * CLOCK_SPREAD_MS)))
    this.gossip = new GossipModel(this.vt, this.links, this.rng, o.nodes, o.peers, {
      validate: (_at, _msg, bytes) => { this.stash = this.checker.check(bytes); return this.stash != null },
      deliver: (at, msg) => {
        const h = this.stash
        this.stash = undefined
        if (h == null) return
        const id = h.kind === 'job' ? (this.jobOfMsg.get(msg) ?? h.id) : ''
        this.nodes[at].heard(h, id)
      }
    })
  }

  static async create (o: SimOptions): Promise<SimMesh> {
    return new SimMesh(o, await identities(o.seed, o.nodes))
  }

  /** every node's turn for `job`, as MeshClaimer.plan orders them (free nodes first), from the reports all have heard */
  private turnOf (job: string, node: string): number {
    let t = this.turns.get(job)
    if (t == null) {
      const offers = this.nodes.map(n => ({ report: report(n.id, this.o.slots, n.slotsFree, 1, 0), canBuild: true }))
      const free = new Set(this.nodes.filter(n => n.slotsFree >= 1).map(n => n.id))
      const order = rank(job, simSpec(), offers.map(o => ({ ...o, report: { ...o.report, slotsFree: Math.max(1, o.report.slotsFree) } })), this.jobsOrigin.get(job))
      const turns = [...order.filter(id => free.has(id)), ...order.filter(id => !free.has(id))]
      t = new Map(turns.map((id, i) => [id, i]))
      this.turns.set(job, t)
    }
    return t.get(node) ?? t.size
  }

  /** the idle phase: load reports every `idleHeartbeatMs(N)` (as a daemon that knows N nodes), connection pings, gossip heartbeats; messages per node per second */
  async idle (): Promise<{ perNodePerS: number, byKind: Record<string, number> }> {
    for (const n of this.nodes) n.start()
    this.gossip.start()
    let seq = 0
    const heartbeat = idleHeartbeatMs(this.o.nodes)
    for (const n of this.nodes) {
      const beat = (): void => {
        this.gossip.publish(n.index, loadReport(n.identity, report(n.id, this.o.slots, n.slotsFree, ++seq, n.clock.now())))
        this.background.push(this.vt.after(heartbeat, beat))
      }
      // spread over one heartbeat, so that any window holds reports at the steady rate
      this.background.push(this.vt.after(this.rng.int(heartbeat), beat))
      // the daemon's quiet monitor (protocols/net/quiet-monitor.ts): looked at six times an
      // interval, a connection that received nothing for an interval is pinged (and answered)
      const check = CONNECTION_PING_INTERVAL_MS / 6
      const ping = (): void => {
        for (const p of this.gossip.peers[n.index]) {
          if (this.links.quietFor(n.index, p, CONNECTION_PING_INTERVAL_MS) < CONNECTION_PING_INTERVAL_MS) continue
          this.links.send('ping', n.index, p, () => { this.links.send('ping', p, n.index, () => {}) })
        }
        this.background.push(this.vt.after(check, ping))
      }
      this.background.push(this.vt.after(this.rng.int(check), ping))
    }
    // a few gossip heartbeats of warm-up (IHAVE windows filled); the first reports are spread over
    // one heartbeat from the start, so reports arrive at the steady rate throughout
    await this.vt.run(this.vt.t + IDLE_WARMUP_MS, { batched: true })
    const before = new Map(this.links.sent)
    await this.vt.run(this.vt.t + this.o.idleS * 1000, { batched: true })
    const byKind: Record<string, number> = {}
    for (const [k, v] of this.links.sent) byKind[k] = Math.round((v - (before.get(k) ?? 0)) / this.o.nodes / this.o.idleS * 100) / 100
    const total = Object.values(byKind).reduce((a, b) => a + b, 0)
    for (const t of this.background) t.cancelled = true
    this.background = []
    return { perNodePerS: Math.round(total * 100) / 100, byKind }
  }

  /** the jobs phase: submit every job at a random node, run until all are decided and known everywhere */
  async jobs (): Promise<void> {
    const ids = this.nodes.map(n => n.id)
    const trust = builderDigest(ids)
    const gap = 1000 / this.o.submitPerS
    for (let k = 0; k < this.o.jobs; k++) {
      this.vt.after(Math.round(k * gap), () => {
        const n = this.nodes[this.rng.int(this.nodes.length)]
        const nonce = createHash('sha256').update(`${this.o.seed}/${k}`).digest('hex').slice(0, 16)
        const acceptors = closestAcceptors(sha256Hex(new TextEncoder().encode(nonce)), ids)
        const a = announce(n.identity, { mesh: MESH, nonce, at: n.clock.now(), acceptors, trust })
        this.jobsOrigin.set(a.id, n.id)
        this.ledger.submitted(a.id, n.index, this.vt.t)
        n.submitted(a.id, acceptors, a.bytes)
        this.jobOfMsg.set(this.gossip.publish(n.index, a.bytes), a.id)
      })
    }
    const until = this.vt.t + this.o.jobs * gap + this.o.horizonS * 1000
    let next = 0
    const stop = (): boolean => {
      if (this.vt.t < next) return false
      next = this.vt.t + 100
      return this.ledger.jobs.size === this.o.jobs && this.ledger.complete()
    }
    await this.vt.run(until, { batched: true, stop })
  }

  stop (): void {
    this.gossip.stop()
    for (const n of this.nodes) n.stop()
  }

  /** idle phase, jobs phase, figures */
  async run (): Promise<SimResult> {
    const idle = await this.idle()
    const sentBefore = this.links.total()
    const leaseBefore = this.links.sent.get('lease') ?? 0
    await this.jobs()
    this.stop()
    const s = this.ledger.summary()
    return {
      nodes: this.o.nodes,
      ...s,
      messages_per_node_per_s_idle: idle.perNodePerS,
      idle_messages_by_kind: idle.byKind,
      jobs_phase_messages_per_job: Math.round((this.links.total() - sentBefore) / Math.max(1, this.o.jobs)),
      lease_messages: (this.links.sent.get('lease') ?? 0) - leaseBefore,
      lost_messages: this.links.lost,
      virtual_s: Math.round(this.vt.t) / 1000,
      callbacks: this.vt.ran,
      verified_copies: this.checker.verified,
      unverified_copies: this.checker.unverified,
      refused_copies: this.checker.refused
    }
  }
}

/** an announcement a claimant sent along: verified (always) and validated, with its id and acceptors */
function checkAnnouncement (ann: Uint8Array): { id: string, acceptors: string[] } | undefined {
  try {
    const m = open(ann, { expectType: 'job' })
    const { value } = validateAnnouncement(m.payload)
    return value?.acceptors != null ? { id: m.hash, acceptors: value.acceptors } : undefined
  } catch {
    return undefined
  }
}
