/**
 * Which jobs a node without a sandbox takes. A job on a node with isolation `none` runs as the
 * daemon's user and can read the node's key: fine for the node's own jobs (its owner submitted
 * them), not for another member's, unless the node's config says `allowUnisolated: true`. And no
 * node without a sandbox can honour `network: none`. Nix jobs are not run by the executor (Nix
 * builds them in its own sandbox, docs/nix.md): this does not apply to them.
 */
import type { Isolation } from '../executor/sandbox/index.js'
import type { JobRow } from '../jobs/types.js'

export interface IsolationPolicy {
  isolation: Isolation
  allowUnisolated: boolean
  /** this node's key id: jobs it submitted are its own */
  self: string
}

/** why this node will not take `row` because of its isolation, or undefined when it may */
export function isolationRefusal (policy: IsolationPolicy, row: JobRow): string | undefined {
  if (policy.isolation === 'sandbox') return undefined
  // a Nix job never reaches the executor: the daemon hands it to Nix, which builds in its own sandbox
  if (row.spec.nix !== undefined) return undefined
  if (row.spec.network === 'none') return 'no sandbox here: it cannot cut a job\'s network (network: none)'
  if (row.submitter !== policy.self && !policy.allowUnisolated) return 'no sandbox here: it runs only its own jobs (allowUnisolated is off)'
  return undefined
}
