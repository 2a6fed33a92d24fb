import { createHash } from 'node:crypto'
import type { LoadReport } from '../../protocols/load/index.js'
import type { JobSpec } from '../../protocols/job/types.js'

/** What a node offers, as its load report says (plus whether its key may build). */
export interface Offer {
  report: LoadReport
  canBuild: boolean
}

/**
 * Why a node would not take a job now, or undefined if it would. The same rule serves a node
 * deciding for itself and a node explaining why a queued job waits.
 */
export function refusal (offer: Offer, spec: JobSpec): string | undefined {
  const r = offer.report
  if (!offer.canBuild) return 'no build role'
  if (r.state !== 'active') return r.state
  // a rebuild proves something only when another member makes it
  if (spec.rebuild != null && spec.rebuild.builder === r.node) return 'built the job this rebuilds'
  const missing = spec.requires.labels.filter(l => !r.labels.includes(l))
  if (missing.length > 0) return `missing label ${missing.join(', ')}`
  if (r.cores < spec.requires.cores) return `needs ${spec.requires.cores} cores`
  if (spec.requires.memoryBytes > 0 && r.memTotalBytes < spec.requires.memoryBytes) return 'not enough memory'
  if (r.slotsFree < 1) return 'no free slot'
  if (r.cores > 0 && r.load1 / r.cores >= r.loadLimit) return 'load above threshold'
  return undefined
}

/** a stable pseudo-random order of nodes per job, so ties spread over the mesh */
function stableHash (job: string, node: string): string {
  return createHash('sha256').update(job).update('\0').update(node).digest('hex')
}

/**
 * The order in which eligible nodes try to claim a job: the node that holds the job name's
 * workspace first (incremental builds), then lighter load per core, then the node it was
 * submitted on (`origin`: its output needs no remote stream to reach the submitter), then a
 * stable hash of job and node. Every node computes the same order from the same reports, so
 * usually one node claims without contention.
 */
export function rank (job: string, spec: JobSpec, offers: Offer[], origin?: string): string[] {
  return offers
    .filter(o => refusal(o, spec) == null)
    .map(o => ({
      id: o.report.node,
      ws: o.report.workspaces.includes(spec.name) ? 0 : 1,
      load: o.report.cores > 0 ? o.report.load1 / o.report.cores : Infinity,
      own: o.report.node === origin ? 0 : 1,
      h: stableHash(job, o.report.node)
    }))
    .sort((a, b) => a.ws - b.ws || Math.round(a.load * 10) - Math.round(b.load * 10) || a.own - b.own || (a.h < b.h ? -1 : a.h > b.h ? 1 : 0))
    .map(x => x.id)
}

/**
 * Why no node has taken a queued job yet, in the words users ask for ("no member has label
 * gpu", "all nodes are above the load threshold").
 */
export function explainWait (spec: JobSpec, offers: Offer[]): string {
  if (offers.length === 0) return 'no node is reporting its load: waiting for members'
  const reasons = offers.map(o => refusal(o, spec))
  if (reasons.some(r => r == null)) return 'waiting to be claimed'
  const count = (pred: (r: string) => boolean): number => reasons.filter(r => r != null && pred(r)).length
  const n = offers.length
  const builders = offers.filter(o => o.canBuild).length
  if (builders === 0) return 'no member holds the build role'
  const labels = spec.requires.labels
  if (labels.length > 0 && !offers.some(o => labels.every(l => o.report.labels.includes(l)))) {
    return `no member has label ${labels.filter(l => !offers.some(o => o.report.labels.includes(l))).join(', ') || labels.join(', ')}`
  }
  if (count(r => r === 'paused' || r === 'draining' || r === 'gone') === n) return 'all nodes are paused, draining or gone'
  if (count(r => r.startsWith('needs') || r === 'not enough memory') === n) return 'no node has the cores or memory the job requires'
  if (count(r => r === 'load above threshold') > 0 && count(r => r === 'load above threshold' || r === 'no free slot') === n) {
    return count(r => r === 'no free slot') > 0 ? 'every eligible node is busy or above its load threshold' : 'all eligible nodes are above the load threshold'
  }
  if (count(r => r === 'no free slot') > 0) return 'no free slot on any eligible node'
  return [...new Set(reasons)].join('; ')
}
