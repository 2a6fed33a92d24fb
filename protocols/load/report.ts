import { isRecord } from '../codec/index.js'

/** how often a node looks at its own load, and reports it if it changed (see `reportChanged`) */
export const LOAD_CHECK_INTERVAL_MS = 5000
/** the longest a node goes without a report while nothing changes: the sign of life of an idle node */
export const LOAD_HEARTBEAT_MS = 15_000
/**
 * the same for a node that runs jobs: its reports are what tells the others that their executor is
 * alive (EXECUTOR_SILENT_MS), so it reports at every check
 */
export const LOAD_BUSY_HEARTBEAT_MS = LOAD_CHECK_INTERVAL_MS
/**
 * Beyond LOAD_HEARTBEAT_MS / this many nodes, an idle node's heartbeat grows with the number of
 * nodes it knows, so that the whole mesh sends about one idle report a second whatever its size:
 * every report is flooded to every connected member and forwarded by each, so a fixed heartbeat
 * made the idle cost of each node grow with N.
 */
export const LOAD_HEARTBEAT_PER_NODE_MS = 1000
/** the idle heartbeat of a node that knows `nodes` nodes (itself included) */
export function idleHeartbeatMs (nodes: number): number {
  return Math.max(LOAD_HEARTBEAT_MS, nodes * LOAD_HEARTBEAT_PER_NODE_MS)
}
/**
 * A node that sent no report for this long missed two heartbeats: it is unreachable, its offer no
 * longer counts (PeerTable, MeshClaimer). Two, so one lost message is no outage. Sender and
 * receiver each count the nodes they know; a receiver that knows half as many nodes as the sender
 * still waits one heartbeat of the sender's and a check interval.
 */
export function silentAfterMs (nodes: number): number {
  return 2 * idleHeartbeatMs(nodes) + LOAD_CHECK_INTERVAL_MS
}
/** the same in a mesh of up to LOAD_HEARTBEAT_MS / LOAD_HEARTBEAT_PER_NODE_MS nodes */
export const LOAD_SILENT_AFTER_MS = silentAfterMs(0)
/** a change of the 1-minute load average smaller than this is noise, not a change worth a report */
export const LOAD1_CHANGE = 0.5
/**
 * nor is one smaller than this share of the load last reported: on a busy machine the load average
 * moves by more than LOAD1_CHANGE between two checks all the time, and every such move was a report
 * flooded to the whole mesh; ranking compares loads, so a quarter either way changes little
 */
export const LOAD1_CHANGE_RATIO = 0.25
/** a change of free memory smaller than this is noise */
export const MEM_FREE_CHANGE_BYTES = 256 * 1024 * 1024
/** a report from further in the future than this is refused (clock skew allowance) */
export const LOAD_MAX_SKEW_MS = 5 * 60_000
export const MAX_LABELS = 64
export const MAX_RUNNING = 1024
export const MAX_ADDRS = 16

export const NODE_STATES = ['active', 'paused', 'draining', 'gone'] as const
export type NodeState = typeof NODE_STATES[number]

/** Payload of a signed `load` envelope: what a node offers right now. */
export interface LoadReport {
  node: string
  at: number
  /** increases with every report of this node process (with `at`, orders reports; a replay is older) */
  seq: number
  load1: number
  cores: number
  memFreeBytes: number
  memTotalBytes: number
  slots: number
  slotsFree: number
  labels: string[]
  state: NodeState
  /** ids of the jobs running there */
  running: string[]
  /** multiaddrs (with /p2p/) the node can be reached at */
  addrs: string[]
  /** names of the jobs whose workspaces this node holds (incremental builds rank it first) */
  workspaces: string[]
  /** the node admits jobs only while load1 / cores is below this */
  loadLimit: number
  /** the mesh it reports to (a report is no member's word in another mesh) */
  mesh?: string
  /**
   * true when the node sent this report straight to every member (see `reachesEveryMember`): those
   * who got it from the node itself then do not forward it (`forwardReport`)
   */
  direct?: boolean
}

const FIELDS = ['node', 'at', 'seq', 'load1', 'cores', 'memFreeBytes', 'memTotalBytes', 'slots', 'slotsFree', 'labels', 'state', 'running', 'addrs', 'workspaces', 'loadLimit', 'mesh', 'direct']
export const MAX_WORKSPACES = 256

function nonNeg (v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0
}

/** Check a load report from a peer; returns the first problem. */
export function validateLoadReport (raw: unknown): { value?: LoadReport, problem?: string } {
  if (!isRecord(raw)) return { problem: 'load report is not a map' }
  if (Object.keys(raw).some(k => !FIELDS.includes(k))) return { problem: 'load report has unknown fields' }
  if (typeof raw.node !== 'string' || raw.node.length > 128) return { problem: 'node is not a peer id' }
  for (const k of ['at', 'seq', 'cores', 'memFreeBytes', 'memTotalBytes', 'slots', 'slotsFree']) {
    if (!Number.isSafeInteger(raw[k]) || (raw[k] as number) < 0) return { problem: `${k} is not a whole number` }
  }
  if (!nonNeg(raw.load1)) return { problem: 'load1 is not a number' }
  if (raw.mesh !== undefined && (typeof raw.mesh !== 'string' || !/^[0-9a-f]{64}$/.test(raw.mesh))) return { problem: 'mesh is not a mesh id' }
  if (!nonNeg(raw.loadLimit)) return { problem: 'loadLimit is not a number' }
  if (raw.direct !== undefined && typeof raw.direct !== 'boolean') return { problem: 'direct is not a boolean' }
  if (!(NODE_STATES as readonly string[]).includes(raw.state as string)) return { problem: 'state is unknown' }
  for (const [k, max, len] of [['labels', MAX_LABELS, 64], ['running', MAX_RUNNING, 64], ['addrs', MAX_ADDRS, 512], ['workspaces', MAX_WORKSPACES, 128]] as const) {
    const v = raw[k]
    if (!Array.isArray(v) || v.length > max || !v.every(x => typeof x === 'string' && x.length <= len)) return { problem: `${k} is not a list of short strings` }
  }
  return { value: raw as unknown as LoadReport }
}

/** what of a report says something about the node, beside its load and free memory */
function shape (r: Omit<LoadReport, 'at' | 'seq'>): string {
  return JSON.stringify([r.node, r.cores, r.memTotalBytes, r.slots, r.slotsFree, r.labels, r.state, r.running, r.addrs, r.workspaces, r.loadLimit, r.mesh])
}

/**
 * Whether `next` tells peers something `prev` (the last report sent) did not: any field but the
 * load average and free memory differs, or those moved by at least LOAD1_CHANGE (and LOAD1_CHANGE_RATIO
 * of the load sent) / MEM_FREE_CHANGE_BYTES from what was sent. Compared with the last report sent,
 * not the last looked at, so a slow drift adds up to a report while jitter around one value never does.
 */
export function reportChanged (prev: Omit<LoadReport, 'at' | 'seq'> | undefined, next: Omit<LoadReport, 'at' | 'seq'>): boolean {
  if (prev == null) return true
  if (Math.abs(next.load1 - prev.load1) >= Math.max(LOAD1_CHANGE, LOAD1_CHANGE_RATIO * prev.load1)) return true
  if (Math.abs(next.memFreeBytes - prev.memFreeBytes) >= MEM_FREE_CHANGE_BYTES) return true
  return shape(prev) !== shape(next)
}

/**
 * Whether a report this node publishes now reaches every member straight from it: every other
 * member that has not left (`left`) subscribes to the load topic over a connection to this node,
 * and reports are flood-published to every such subscriber. A member that is offline without
 * having left makes it false, so that others keep forwarding (it may be reachable through them).
 */
export function reachesEveryMember (self: string, members: Iterable<string>, subscribers: ReadonlySet<string>, left: (peerId: string) => boolean): boolean {
  for (const id of members) {
    if (id !== self && !subscribers.has(id) && !left(id)) return false
  }
  return true
}

/**
 * Whether a node forwards a report it accepted from neighbour `via`. Not when its author says it
 * sent it to every member itself (`direct`) and it came from the author: every other member got
 * its own copy already, and each forward would be a duplicate (in a fully connected mesh of N,
 * about three for every report and node). A copy that came by another way is forwarded as usual.
 */
export function forwardReport (report: Pick<LoadReport, 'node' | 'direct'>, via: string): boolean {
  return !(report.direct === true && via === report.node)
}
