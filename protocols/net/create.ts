import { createHash } from 'node:crypto'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { checkListenAddrs, parsePeerAddrs } from './addrs.js'
import {
  BOOTSTRAP_DELAY_MS, CONNECTION_PING_INTERVAL_MS, CONNECTION_PING_MIN_TIMEOUT_MS, DHT_MAX_RECORDS, DHT_PROTOCOL, GOSSIP_D, GOSSIP_DHI, GOSSIP_DLAZY, GOSSIP_DLO, GOSSIP_FACTOR, GOSSIP_DOUT, GOSSIP_DSCORE, GOSSIP_IDONTWANT_MIN_BYTES, GOSSIP_MAX_OUTBOUND_BUFFER_BYTES, GOSSIP_MAX_RPC_BYTES, INBOUND_CONNECTIONS_PER_HOST_PER_S, MAX_INCOMING_PENDING_CONNECTIONS, PING_MAX_STREAMS, PROTOCOL_PREFIX
} from './constants.js'
import { InvalidMeshOptionError } from './errors.js'
import { BoundedDatastore } from './bounded-datastore.js'
import { membershipGater } from './gater.js'
import { redialer } from './redialer.js'
import { corkedTcp, lastReceivedAt, useHalfWindowUpdates, useQuietLengthPrefixes } from './wire.js'
import { quietMonitor } from './quiet-monitor.js'
import { silentLogger } from '../../store/logger.js'
import type { IsAllowed } from './gater.js'
import type { Redialer, RedialerInit } from './redialer.js'
import type { QuietMonitor } from './quiet-monitor.js'
import type { Logger } from '../../store/logger.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type { KadDHT, Selectors, Validators } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Libp2pOptions } from 'libp2p'

/** the services every mesh node runs */
export interface MeshServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
  redialer: Redialer
  monitor: QuietMonitor
}

export type MeshLibp2p = Libp2p<MeshServices>

export interface MeshLibp2pOptions {
  /** the node's Ed25519 key (`Identity.privateKey`) */
  privateKey: PrivateKey
  /** multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/4801` */
  listen: string[]
  /** known members, each `/ip4/…/tcp/…/p2p/<peer id>`; may be empty */
  bootstrap: string[]
  /** membership: only these peers may connect, in either direction */
  isAllowed: IsAllowed
  logger?: Logger
  /** DHT record validators by namespace (`/lease/…` → `lease`) */
  dhtValidators?: Validators
  /** DHT record selectors by namespace */
  dhtSelectors?: Selectors
  /** most DHT records kept in memory (default DHT_MAX_RECORDS) */
  dhtMaxRecords?: number
  /** redialer tunables (its peers and membership come from the options above) */
  redial?: Omit<RedialerInit, 'peers' | 'isAllowed' | 'logger'>
  /** how often connections are looked at, and a quiet one pinged (default CONNECTION_PING_INTERVAL_MS) */
  pingIntervalMs?: number
  /** a monitor ping not answered within this closes the connection (default CONNECTION_PING_MIN_TIMEOUT_MS) */
  pingTimeoutMs?: number
  /** start the node before returning (default true) */
  start?: boolean
}

/** gossip message id: the sha256 of the data, so one envelope is one message whoever publishes it */
function messageId (msg: { data: Uint8Array }): Uint8Array {
  return createHash('sha256').update(msg.data).digest()
}

/** message ids as lowercase hex: the same string as the envelope's hash (`Signed.hash`) */
function messageIdToString (id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}

function checkOptions (options: MeshLibp2pOptions): void {
  const problems: string[] = []
  if (options.privateKey?.type !== 'Ed25519') problems.push('privateKey: must be an Ed25519 libp2p private key')
  if (!Array.isArray(options.listen)) problems.push('listen: must be a list of multiaddrs')
  else problems.push(...checkListenAddrs(options.listen))
  if (!Array.isArray(options.bootstrap)) problems.push('bootstrap: must be a list of multiaddrs (may be empty)')
  else problems.push(...parsePeerAddrs(options.bootstrap, 'bootstrap').problems)
  for (const key of ['pingIntervalMs', 'pingTimeoutMs'] as const) {
    const v = options[key]
    if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) problems.push(`${key}: must be a whole number of milliseconds above 0`)
  }
  if (typeof options.isAllowed !== 'function') problems.push('isAllowed: must be a function (peerId) => boolean')
  if (problems.length > 0) throw new InvalidMeshOptionError(problems)
}

/**
 * Build the mesh's libp2p node: tcp + noise + yamux, identify and ping under `/cit/`, the mesh's
 * own kad-dht, gossipsub, bootstrap discovery and the redialer. Only members connect (see
 * `membershipGater`). Started unless `start: false`. Throws ERR_INVALID_OPTION naming each
 * bad option. The Promise.withResolvers polyfill must be loaded first on Node 20.
 */
export async function createMeshLibp2p (options: MeshLibp2pOptions): Promise<MeshLibp2p> {
  checkOptions(options)
  const logger = options.logger ?? silentLogger
  const known = parsePeerAddrs(options.bootstrap, 'bootstrap').peers
  const peerDiscovery: NonNullable<Libp2pOptions<MeshServices>['peerDiscovery']> = []
  // the bootstrap module refuses an empty list
  if (options.bootstrap.length > 0) {
    peerDiscovery.push(bootstrap({ list: options.bootstrap, timeout: BOOTSTRAP_DELAY_MS }))
  }
  // fewer, larger socket writes for the same bytes (see wire.ts)
  useHalfWindowUpdates()
  useQuietLengthPrefixes()
  return await createLibp2p<MeshServices>({
    privateKey: options.privateKey,
    start: options.start ?? true,
    addresses: { listen: options.listen },
    transports: [corkedTcp()],
    connectionEncrypters: [noise()],
    // yamux's keepalive pings every connection every 30 s and only logs a missing answer: the
    // connection monitor below is what finds dead connections, so yamux's pings were pure cost
    streamMuxers: [yamux({ enableKeepAlive: false })],
    connectionGater: membershipGater(options.isAllowed, logger),
    // the DHT's records in memory, bounded: no member can grow it without end
    datastore: new BoundedDatastore(options.dhtMaxRecords ?? DHT_MAX_RECORDS),
    peerDiscovery,
    connectionManager: {
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_HOST_PER_S,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING_CONNECTIONS
    },
    // libp2p's connection monitor pings every connection at every interval from both ends; the
    // quiet monitor below pings only connections that received nothing for an interval
    connectionMonitor: { enabled: false },
    services: {
      identify: identify({ protocolPrefix: PROTOCOL_PREFIX }),
      // kad-dht pings new peers itself: the default of one outbound ping stream makes a caller's ping fail
      ping: ping({ protocolPrefix: PROTOCOL_PREFIX, maxInboundStreams: PING_MAX_STREAMS, maxOutboundStreams: PING_MAX_STREAMS }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        // the default mapper drops loopback and LAN addresses, which is where members live
        peerInfoMapper: passthroughMapper,
        validators: options.dhtValidators,
        selectors: options.dhtSelectors
      }),
      pubsub: gossipsub({
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        msgIdFn: messageId,
        msgIdToStrFn: messageIdToString,
        maxInboundDataLength: GOSSIP_MAX_RPC_BYTES,
        maxOutboundBufferSize: GOSSIP_MAX_OUTBOUND_BUFFER_BYTES,
        // gossipsub penalises peers that share an IP address once there are more than 10 of them
        // (a Sybil defence for open networks): members behind one NAT, or on one host, would
        // sink below the graylist and stop hearing each other. Here every peer is a member whose
        // key was admitted by the connection gater, so the address says nothing about it.
        scoreParams: { IPColocationFactorWeight: 0 },
        // every message is a signed envelope whose id is the hash of its bytes: gossipsub's own
        // signature (one more Ed25519 sign per publish and a verify per copy received, before
        // its duplicate check) proves nothing more and was the largest part of an idle node's CPU
        globalSignaturePolicy: 'StrictNoSign',
        // IDONTWANT (gossipsub 1.2) tells mesh peers not to forward a message this node already
        // has: one control message to each of them per message received. For the mesh's small
        // envelopes that costs as much as the duplicate it saves; it pays from large messages on
        idontwantMinDataSize: GOSSIP_IDONTWANT_MIN_BYTES,
        // a small topic mesh: every publish is flooded to every connected member already, so what
        // the mesh forwards is mostly duplicates (see GOSSIP_D)
        D: GOSSIP_D,
        Dlo: GOSSIP_DLO,
        Dhi: GOSSIP_DHI,
        Dout: GOSSIP_DOUT,
        Dscore: GOSSIP_DSCORE,
        Dlazy: GOSSIP_DLAZY,
        // IHAVE to GOSSIP_DLAZY peers, not to a share of all of them (see GOSSIP_FACTOR)
        gossipFactor: GOSSIP_FACTOR
        // floodPublish stays on (gossipsub's default): without it a subscriber outside the
        // publisher's topic mesh hears of a message only by gossip (IHAVE) within a few heartbeats,
        // and a test of a 14-leaf star missed some leaves for good; a member then learns of the
        // job only at its next sync
      }),
      redialer: redialer({ ...options.redial, peers: known, isAllowed: options.isAllowed, logger }),
      // dead connections are found by pinging (on `/cit/ping/1.0.0`, the ping above) those that stayed quiet
      monitor: quietMonitor({
        intervalMs: options.pingIntervalMs ?? CONNECTION_PING_INTERVAL_MS,
        timeoutMs: options.pingTimeoutMs ?? CONNECTION_PING_MIN_TIMEOUT_MS,
        lastReceivedAt,
        logger
      })
    }
  })
}
