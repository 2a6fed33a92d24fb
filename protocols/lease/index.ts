/**
 * Job leases by quorum: a job's acceptors are the few members closest to its id in the kad
 * keyspace (named by its announcement); a claim is a compare-and-set at a majority of them over
 * long-lived streams (`/cit/lease/1.0.0`), renewed in batches, and a run's result counts only
 * with a majority of the acceptors' signed votes for its (job, epoch, executor, outcome).
 * See docs/protocols/lease.md.
 */
export { LeaseService } from './service.js'
export type { LeaseServiceComponents, LeaseServiceInit } from './service.js'
export { LeaseAcceptor } from './acceptor.js'
export type { LeaseAcceptorComponents, LeaseAcceptorInit } from './acceptor.js'
export { LeaseClaimant } from './claimant.js'
export type { ClaimArgs, ClaimOutcome, FinishOutcome, LeaseClaimantInit } from './claimant.js'
export { LeaseRpc } from './rpc.js'
export { LeaseLinks } from './links.js'
export { MemoryNetwork } from './memory.js'
export { VirtualTime, settle } from './virtual-time.js'
export type { VirtualTimer, RunOptions } from './virtual-time.js'
export type { DeliveryPolicy } from './memory.js'
export { closestAcceptors, acceptorCount, majority, kadIdOfJob, kadIdOfPeer } from './acceptors.js'
export { checkGrants, checkVotes, outcomeOf, provenEpoch } from './certificate.js'
export type { CertCheck, CertSubject } from './certificate.js'
export { openLeaseMessage, isJobId, isPeerId } from './messages.js'
export type { LeaseRequest, LeaseItem, Grant, Vote, Reply, LeaseRefusal, LeaseMessage } from './messages.js'
export { MemoryVoteStore, systemClock } from './types.js'
export type { LeaseClock, LeaseTransport, VoteRecord, VoteStore } from './types.js'
export {
  InvalidLeaseArgumentError, InvalidLeaseMessageError, LeaseNotStartedError, LeaseTimeoutError, LeaseAbortedError, LeaseUnreachableError
} from './errors.js'
export * from './constants.js'
