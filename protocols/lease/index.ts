/**
 * Job leases: masterless claims through signed `/lease/<job>` records in the mesh's Kademlia
 * DHT. Every node installs `leaseValidator` and `leaseSelector` for the `lease` namespace; a
 * `LeaseManager` claims, renews, releases and fence-checks leases. The epoch in a lease fences
 * stale holders: a result is accepted only under the epoch that is current.
 * See docs/protocols/lease.md.
 */
export { LeaseManager } from './lease-manager.js'
export type {
  LeaseManagerComponents, LeaseManagerInit, CallOptions, ClaimOptions, ClaimResult, RenewResult, KeepAliveOptions
} from './types.js'
export { makeLease, renewLease, releaseLease, parseLease, leaseKey, jobOfLeaseKey, isJobId } from './record.js'
export type { LeasePayload } from './record.js'
export { leaseValidator, checkLease } from './validator.js'
export type { IsBuilder, LeaseRules } from './validator.js'
export { leaseSelector, selectLease, compareLeases, bestLease, leaseCandidate } from './selector.js'
export type { LeaseCandidate } from './selector.js'
export type { LeaseDht } from './dht-io.js'
export {
  InvalidLeaseError, InvalidLeaseArgumentError, InvalidLeaseOptionError, LeaseNotStartedError,
  LeaseTimeoutError, LeaseAbortedError, LeaseUnreachableError
} from './errors.js'
export type { LeaseRejection } from './errors.js'
export * from './constants.js'
