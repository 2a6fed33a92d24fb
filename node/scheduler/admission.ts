import { createHash } from 'node:crypto'
import { LOAD1_CHANGE, LOAD1_CHANGE_RATIO } from '../../protocols/load/index.js'
import type { LoadReport } from '../../protocols/load/index.js'
import type { JobSpec } from '../../protocols/job/types.js'

/** What a node offers, as its load report says (plus whether its key may build). */
export interface Offer {
  report: LoadReport
  canBuild: boolean
}

/** why a node would not take a job: the kind of reason, and what it says */
export interface Refusal {
  kind: 'role' | 'rebuild' | 'labels' | 'cores' | 'memory' | 'paused' | 'draining' | 'gone' | 'slots' | 'load'
  text: string
}

/** kinds of refusal that no waiting cures: the node can never run the job as things are */
export const NEVER: ReadonlySet<Refusal['kind']> = new Set(['role', 'rebuild', 'labels', 'cores', 'memory'])

/**
 * Why a node would not take a job now, or undefined if it would. The same rule serves a node
 * deciding for itself and a node explaining why a queued job waits.
 */
export function refuse (offer: Offer, spec: JobSpec): Refusal | undefined {
  const r = offer.report
  if (!offer.canBuild) return { kind: 'role', text: 'no build role' }
  // a rebuild proves something only when another member makes it
  if (spec.rebuild != null && spec.rebuild.builder === r.node) return { kind: 'rebuild', text: 'built the job this rebuilds' }
  const missing = spec.requires.labels.filter(l => !r.labels.includes(l))
  if (missing.length > 0) return { kind: 'labels', text: `missing label ${missing.join(', ')}` }
  if (r.cores < spec.requires.cores) return { kind: 'cores', text: `needs ${spec.requires.cores} cores` }
  if (spec.requires.memoryBytes > 0 && r.memTotalBytes < spec.requires.memoryBytes) return { kind: 'memory', text: 'not enough memory' }
  if (r.state !== 'active') return { kind: r.state, text: r.state }
  if (r.slotsFree < 1) return { kind: 'slots', text: 'no free slot' }
  if (r.cores > 0 && r.load1 / r.cores >= r.loadLimit) return { kind: 'load', text: 'load above threshold' }
  return undefined
}

/** `refuse`'s text: why a node would not take a job now, or undefined if it would */
export function refusal (offer: Offer, spec: JobSpec): string | undefined {
  return refuse(offer, spec)?.text
}

/** a stable pseudo-random order of nodes per job, so ties spread over the mesh */
function stableHash (job: string, node: string): string {
  return createHash('sha256').update(job).update('\0').update(node).digest('hex')
}

/**
 * How much lighter than its report a node may be without reporting it: a load report is sent
 * again only once load1 moved by LOAD1_CHANGE or LOAD1_CHANGE_RATIO of it, so two reports closer
 * than this say nothing about which machine is lighter (per core).
 */
export function loadResolution (report: LoadReport): number {
  return report.cores > 0 ? Math.max(LOAD1_CHANGE, LOAD1_CHANGE_RATIO * report.load1) / report.cores : 0
}

/**
 * The order in which eligible nodes try to claim a job: the node that holds the job name's
 * workspace first (incremental builds), then lighter load per core, then the node it was
 * submitted on (`origin`: its output needs no remote stream to reach the submitter, and it hears
 * of the job first), then a stable hash of job and node. The origin's load counts as lighter by
 * what its reports cannot show (`loadResolution`): it goes before a node whose report is lighter
 * only by noise, and after one that is lighter for real. Every node computes the same order from
 * the same reports, so usually one node claims without contention.
 */
export function rank (job: string, spec: JobSpec, offers: Offer[], origin?: string): string[] {
  return offers
    .filter(o => refusal(o, spec) == null)
    .map(o => {
      const own = o.report.node === origin
      const perCore = o.report.cores > 0 ? o.report.load1 / o.report.cores : Infinity
      return {
        id: o.report.node,
        ws: o.report.workspaces.includes(spec.name) ? 0 : 1,
        load: own ? Math.max(0, perCore - loadResolution(o.report)) : perCore,
        own: own ? 0 : 1,
        h: stableHash(job, o.report.node)
      }
    })
    .sort((a, b) => a.ws - b.ws || Math.round(a.load * 10) - Math.round(b.load * 10) || a.own - b.own || (a.h < b.h ? -1 : a.h > b.h ? 1 : 0))
    .map(x => x.id)
}
