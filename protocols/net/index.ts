/**
 * The mesh's connection layer: a libp2p node where only members connect (a connection gater
 * fed by the trust logic's membership callback), with the mesh's DHT and gossipsub, bootstrap
 * discovery and a redialer that heals the mesh after restarts and dropped links.
 */
export { createMeshLibp2p } from './create.js'
export type { MeshLibp2p, MeshLibp2pOptions, MeshServices } from './create.js'
export { membershipGater, disconnectDisallowed } from './gater.js'
export type { IsAllowed } from './gater.js'
export { Redialer, redialer } from './redialer.js'
export { QuietMonitor, quietMonitor } from './quiet-monitor.js'
export type { QuietMonitorComponents, QuietMonitorInit, QuietMonitorStats } from './quiet-monitor.js'
export type { RedialerComponents, RedialerInit, RedialerStats } from './redialer.js'
export { parsePeerAddrs } from './addrs.js'
export type { KnownPeer } from './addrs.js'
export { RateLimitedLog } from './log-limit.js'
export { InvalidMeshOptionError } from './errors.js'
export * from './constants.js'
export { guardInviteKeys, InviteKeyStreamError } from './invite-guard.js'
export type { InviteGuardOptions } from './invite-guard.js'
export { BoundedDatastore } from './bounded-datastore.js'
export { corkedTcp, lastReceivedAt, useHalfWindowUpdates, useQuietLengthPrefixes, wireTuning } from './wire.js'
export type { WireTuning } from './wire.js'
