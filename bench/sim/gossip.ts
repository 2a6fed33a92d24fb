/**
 * A model of gossipsub's dissemination on one topic, as the daemon configures it (floodPublish
 * on, emitSelf off, message id = hash of the bytes): every node keeps a topic mesh of degree D
 * (within [Dlo, Dhi]) chosen at random among the peers it is connected to; a publisher sends its
 * message to every connected peer (flood publish); a node validates the first copy it receives
 * (a duplicate is dropped by the seen-cache before validation) and forwards a valid one to its
 * mesh peers; every heartbeat it sends IHAVE with the ids of the last `historyGossip` heartbeats
 * to max(Dlazy, gossipFactor × non-mesh peers) random non-mesh peers, and answers IWANT with the
 * message. Not modelled: peer scoring, opportunistic grafting, mesh churn after the start,
 * IWANT promises, the flow control of the streams, and load reports marked `direct` (a node
 * connected to every member is not forwarded its reports; at the simulator's sizes none is).
 */
import { GOSSIP_D, GOSSIP_DHI, GOSSIP_DLAZY, GOSSIP_DLO, GOSSIP_FACTOR } from '../../protocols/net/constants.js'
import type { Links, Rng } from './links.js'
import type { VirtualTime } from '../../protocols/lease/index.js'

// the topic mesh's degrees and the IHAVE fan-out are the daemon's own (protocols/net/constants.ts),
// so the model follows them; the heartbeat and the history are gossipsub's defaults, which the daemon keeps
export const GOSSIP_HEARTBEAT_MS = 1000
export const GOSSIP_HISTORY_GOSSIP = 3

export interface GossipHandlers {
  /** the topic validator: whether node `at` accepts message `msg` (its first copy) */
  validate: (at: number, msg: number, bytes: Uint8Array) => boolean
  /** a valid message reached node `at` for the first time */
  deliver: (at: number, msg: number) => void
}

export class GossipModel {
  /** the peers each node is connected to (and so may gossip with) */
  readonly peers: number[][]
  /** each node's topic mesh */
  readonly mesh: number[][]
  private readonly messages: Uint8Array[] = []
  /** per message, which nodes have seen it (0 no, 1 seen and valid, 2 seen and refused) */
  private readonly seen: Uint8Array[] = []
  /** per node, the ids it received in each of the last heartbeats (newest first) */
  private readonly windows: number[][][]
  private heartbeats: unknown[] = []

  constructor (
    private readonly vt: VirtualTime,
    private readonly links: Links,
    private readonly rng: Rng,
    readonly nodes: number,
    connections: number,
    private readonly h: GossipHandlers
  ) {
    this.peers = connect(nodes, connections, rng)
    this.mesh = buildMesh(this.peers, rng)
    this.windows = Array.from({ length: nodes }, () => [[]])
  }

  /** start every node's heartbeat, at a random phase */
  start (): void {
    for (let i = 0; i < this.nodes; i++) {
      const beat = (): void => { this.heartbeat(i); this.heartbeats[i] = this.vt.after(GOSSIP_HEARTBEAT_MS, beat) }
      this.heartbeats[i] = this.vt.after(this.rng.int(GOSSIP_HEARTBEAT_MS) + 1, beat)
    }
  }

  stop (): void {
    for (const t of this.heartbeats) (t as { cancelled: boolean }).cancelled = true
    this.heartbeats = []
  }

  /** node `from` publishes `bytes`: flood publish to every connected peer. Returns the message's index. */
  publish (from: number, bytes: Uint8Array): number {
    const msg = this.messages.length
    this.messages.push(bytes)
    const seen = new Uint8Array(this.nodes)
    seen[from] = 1
    this.seen.push(seen)
    this.windows[from][0].push(msg)
    for (const p of this.peers[from]) this.links.send('publish', from, p, () => { this.receive(p, msg, from) })
    return msg
  }

  /** whether node `at` has received message `msg` (valid or not) */
  has (at: number, msg: number): boolean {
    return this.seen[msg][at] !== 0
  }

  private receive (at: number, msg: number, from: number): void {
    const seen = this.seen[msg]
    if (seen[at] !== 0) return
    const ok = this.h.validate(at, msg, this.messages[msg])
    seen[at] = ok ? 1 : 2
    if (!ok) return
    this.windows[at][0].push(msg)
    for (const p of this.mesh[at]) {
      if (p === from) continue
      // a peer that has the message already would drop this copy: count it, schedule nothing
      // (nothing is ever unseen, so this changes no outcome and saves most of the callbacks)
      if (seen[p] !== 0) this.links.count('forward', at, p)
      else this.links.send('forward', at, p, () => { this.receive(p, msg, at) })
    }
    this.h.deliver(at, msg)
  }

  private heartbeat (at: number): void {
    const w = this.windows[at]
    const ids = w.slice(0, GOSSIP_HISTORY_GOSSIP).flat()
    if (ids.length > 0) {
      const mesh = new Set(this.mesh[at])
      const others = this.peers[at].filter(p => !mesh.has(p))
      const n = Math.min(others.length, Math.max(GOSSIP_DLAZY, Math.floor(GOSSIP_FACTOR * others.length)))
      for (const p of sample(others, n, this.rng)) {
        this.links.send('ihave', at, p, () => { this.ihave(p, at, ids) })
      }
    }
    w.unshift([])
    if (w.length > GOSSIP_HISTORY_GOSSIP) w.length = GOSSIP_HISTORY_GOSSIP
  }

  private ihave (at: number, from: number, ids: number[]): void {
    const want = ids.filter(m => this.seen[m][at] === 0)
    if (want.length === 0) return
    this.links.send('iwant', at, from, () => {
      for (const m of want) this.links.send('iwant-reply', from, at, () => { this.receive(at, m, from) })
    })
  }
}

/**
 * The connections: each node (in turn) dials random others while it has fewer than `k` (as the
 * daemon's redialer does, REDIAL_MAX_CONNECTED); connections go both ways, so a node dialled by
 * others may end with more.
 */
function connect (n: number, k: number, rng: Rng): number[][] {
  const sets = Array.from({ length: n }, () => new Set<number>())
  const want = Math.min(k, n - 1)
  for (let i = 0; i < n; i++) {
    while (sets[i].size < want) {
      const j = rng.int(n)
      if (j === i) continue
      sets[i].add(j)
      sets[j].add(i)
    }
  }
  return sets.map(s => [...s])
}

/** the topic meshes after the first heartbeats: GRAFT up to D where below Dlo, PRUNE down to D where above Dhi */
function buildMesh (peers: number[][], rng: Rng): number[][] {
  const mesh = peers.map(() => new Set<number>())
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < peers.length; i++) {
      if (mesh[i].size >= (round === 0 ? GOSSIP_D : GOSSIP_DLO)) continue
      for (const p of sample(peers[i].filter(p => !mesh[i].has(p) && mesh[p].size < GOSSIP_DHI), GOSSIP_D - mesh[i].size, rng)) {
        mesh[i].add(p)
        mesh[p].add(i)
      }
    }
    for (let i = 0; i < peers.length; i++) {
      if (mesh[i].size <= GOSSIP_DHI) continue
      const drop = sample([...mesh[i]], mesh[i].size - GOSSIP_D, rng)
      for (const p of drop) {
        if (mesh[p].size <= GOSSIP_DLO) continue
        mesh[i].delete(p)
        mesh[p].delete(i)
      }
    }
  }
  return mesh.map(s => [...s])
}

/** up to `n` distinct random items of `xs` */
function sample<T> (xs: T[], n: number, rng: Rng): T[] {
  const a = [...xs]
  const out: T[] = []
  for (let i = 0; i < n && a.length > 0; i++) out.push(a.splice(rng.int(a.length), 1)[0])
  return out
}
