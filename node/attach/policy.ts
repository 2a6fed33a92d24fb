import type { AttachAuthorize, AttachMode, AuthorizeResult } from '../../protocols/attach/index.js'
import type { Role } from '../../protocols/trust/index.js'

export interface AttachPolicyComponents {
  /** the job's submitter (its key id), or undefined for a job this node does not know */
  submitterOf: (job: string) => Promise<string | undefined> | string | undefined
  /** the trust state: which roles a key holds */
  trust: { hasRole: (keyId: string, role: Role) => boolean }
}

/**
 * Who may attach (DESIGN.md, "Identities and trust"): read-only for keys with `read` or `admin`
 * and for the job's submitter; read-write for the submitter and `admin` only. A peer attaches
 * as its node key, so a person attaching through their own node acts with that node's roles
 * (the node key is also the submitter of the jobs submitted there).
 */
export function attachPolicy (components: AttachPolicyComponents): AttachAuthorize {
  return async (peerId: string, job: string, mode: AttachMode): Promise<AuthorizeResult> => {
    const { trust } = components
    const admin = trust.hasRole(peerId, 'admin')
    if (mode === 'ro' && (admin || trust.hasRole(peerId, 'read'))) return { ok: true }
    const submitter = await components.submitterOf(job)
    if (submitter === undefined) return { ok: false, reason: 'unknown job' }
    if (submitter === peerId || admin) return { ok: true }
    return { ok: false, reason: mode === 'rw' ? 'read-write needs the submitter\'s key or admin' : 'read-only needs the read role' }
  }
}
