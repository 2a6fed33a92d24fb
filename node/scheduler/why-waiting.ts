import { NEVER, refuse } from './admission.js'
import { shortPeer } from '../short-id.js'
import { DEFAULT_LOAD_LIMIT } from '../config/config.js'
import type { Offer, Refusal } from './admission.js'
import type { JobSpec } from '../../protocols/job/types.js'
import type { JobRow } from '../jobs/types.js'

/** nodes named one by one in a reason; more are counted */
export const MAX_NODES_NAMED = 5

const GIB = 1024 ** 3

/** what a node that could run the job (it has the role, labels, cores and memory) says now */
interface Eligible { offer: Offer, why: Refusal }

/**
 * Why no node has taken a queued job yet, in the words the docs promise ("no member has label
 * gpu", "all eligible nodes are above the load threshold"). Only the nodes that could ever run it
 * explain a wait: a node without the label does not muddle why the one with it is busy. Each is
 * named with its own reason, and a load reason names the setting that changes it.
 */
export function explainWait (spec: JobSpec, offers: Offer[], self?: string): string {
  if (offers.length === 0) return 'no node is reporting its load: waiting for members'
  const never = cannotEver(spec, offers)
  if (never != null) return never
  const eligible: Eligible[] = []
  for (const offer of offers) {
    const why = refuse(offer, spec)
    if (why == null) return 'waiting to be claimed'
    if (!NEVER.has(why.kind)) eligible.push({ offer, why })
  }
  const kinds = new Set(eligible.map(e => e.why.kind))
  const detail = named(eligible, self)
  if (kinds.size === 1) {
    switch ([...kinds][0]) {
      case 'load': return `all eligible nodes are above the load threshold: ${detail} (a node admits jobs while its load per core is below "loadLimit" in its config.json, default ${DEFAULT_LOAD_LIMIT}: raise it on a machine whose load says little about its capacity)`
      case 'slots': return `every eligible node is busy, each slot running a job: ${detail} ("slots" in config.json sets how many run at once)`
      case 'paused': return `every eligible node is paused: ${detail} (\`cit-node resume\` there claims again)`
      case 'draining': return `every eligible node is draining (it finishes what runs and takes nothing new): ${detail} (\`cit-node resume\` there claims again)`
      case 'gone': return `every eligible node has left the mesh: ${detail}`
    }
  }
  return `no eligible node can take it now: ${detail}`
}

/**
 * The offers that count for a job: for one pinned to a node (`cit-node run`), that node's alone,
 * and its load average set aside (a pinned job runs here and now whatever the load says).
 */
export function pinnedOffers (row: Pick<JobRow, 'runOn'>, offers: Offer[]): Offer[] {
  if (row.runOn == null) return offers
  return offers.filter(o => o.report.node === row.runOn).map(o => ({ ...o, report: { ...o.report, loadLimit: Infinity } }))
}

/** the reason when no member could run the job however long it waits, or undefined */
function cannotEver (spec: JobSpec, offers: Offer[]): string | undefined {
  const builders = offers.filter(o => o.canBuild && (spec.rebuild == null || spec.rebuild.builder !== o.report.node))
  if (builders.length === 0) {
    return spec.rebuild != null && offers.some(o => o.canBuild) ? 'a rebuild needs a member other than the one that built the job, and no other holds the build role' : 'no member holds the build role'
  }
  const labels = spec.requires.labels
  const labelled = builders.filter(o => labels.every(l => o.report.labels.includes(l)))
  if (labelled.length === 0) {
    const nobody = labels.filter(l => !builders.some(o => o.report.labels.includes(l)))
    return nobody.length > 0
      ? `no member has label ${nobody.join(', ')}`
      : `no member has all the labels ${labels.join(', ')}`
  }
  const cored = labelled.filter(o => o.report.cores >= spec.requires.cores)
  if (cored.length === 0) return `no member with the labels has the ${spec.requires.cores} cores the job requires`
  if (spec.requires.memoryBytes > 0 && !cored.some(o => o.report.memTotalBytes >= spec.requires.memoryBytes)) {
    return `no member with the labels and cores has the ${(spec.requires.memoryBytes / GIB).toFixed(1)} GiB of memory the job requires`
  }
  return undefined
}

/** each eligible node with its reason, this node first */
function named (eligible: Eligible[], self: string | undefined): string {
  const sorted = [...eligible].sort((a, b) => Number(b.offer.report.node === self) - Number(a.offer.report.node === self))
  const parts = sorted.slice(0, MAX_NODES_NAMED).map(e => {
    const who = e.offer.report.node === self ? 'this node' : `node ${shortPeer(e.offer.report.node)}`
    return `${who} ${describe(e)}`
  })
  if (sorted.length > MAX_NODES_NAMED) parts.push(`and ${sorted.length - MAX_NODES_NAMED} more`)
  return parts.join('; ')
}

function describe ({ offer, why }: Eligible): string {
  const r = offer.report
  switch (why.kind) {
    case 'load': return `has load ${r.load1.toFixed(2)} on ${r.cores} core${r.cores === 1 ? '' : 's'}, at or above its loadLimit of ${r.loadLimit} per core`
    case 'slots': return `runs ${r.slots} job${r.slots === 1 ? '' : 's'} in its ${r.slots} slot${r.slots === 1 ? '' : 's'}`
    case 'gone': return 'has left'
    default: return `is ${why.kind}`
  }
}
