import { sha256Hex } from '../../protocols/codec/index.js'
import { closestAcceptors } from '../../protocols/lease/index.js'
import type { JobAnnouncement } from '../../protocols/job/index.js'
import type { TrustService } from './trust-service.js'

/** the members that hold the build role now, sorted, and a digest of that set (32 hex) */
export function builderSet (trust: Pick<TrustService, 'state'>): { builders: string[], digest: string } {
  const builders = trust.state.members().filter(m => m.roles.includes('build')).map(m => m.keyId).sort()
  return { builders, digest: sha256Hex(new TextEncoder().encode(builders.join('\n'))).slice(0, 32) }
}

/**
 * Why an announcement's acceptors are wrong, or undefined. A node whose builder set has the
 * digest the announcement names checks that they are the builders closest to the job's key (or
 * the submitting node alone, for a job submitted while it reached no peer); a node with another
 * set has not caught up, or is ahead, and cannot tell: its claimer does not claim a job whose
 * acceptors it does not all know.
 */
export function acceptorsProblem (a: JobAnnouncement, trust: Pick<TrustService, 'state'>): string | undefined {
  if (a.acceptors == null) return undefined
  const { builders, digest } = builderSet(trust)
  if (a.trust !== digest) return undefined
  if (a.acceptors.length === 1 && a.acceptors[0] === a.node && builders.includes(a.node)) return undefined
  const expected = closestAcceptors(sha256Hex(new TextEncoder().encode(a.nonce)), builders)
  return expected.length === a.acceptors.length && expected.every((x, i) => x === a.acceptors![i]) ? undefined : 'acceptors are not the builders closest to the job'
}

/**
 * The acceptors a new job names: the builders closest to the sha256 of its nonce, with the digest
 * of the builder set. A builder that reaches no peer at all (`connected` 0) names itself alone:
 * its job can then run there, and only there.
 */
export function acceptorsFor (trust: Pick<TrustService, 'state'>, self: string, connected: number, nonce: string): { acceptors: string[], trust: string } | undefined {
  const { builders, digest } = builderSet(trust)
  if (builders.length === 0) return undefined
  if (builders.includes(self) && builders.length > 1 && connected === 0) return { acceptors: [self], trust: digest }
  return { acceptors: closestAcceptors(sha256Hex(new TextEncoder().encode(nonce)), builders), trust: digest }
}
