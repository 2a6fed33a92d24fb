/** Defaults of the connection layer. Units are in the names. */

/** libp2p protocol prefix for identify and ping: `/cit/id/1.0.0`, `/cit/ping/1.0.0` */
export const PROTOCOL_PREFIX = 'cit'
/**
 * How often the quiet monitor (`quiet-monitor.ts`) looks at the connections: one that received
 * nothing for this long is pinged (on `/cit/ping/1.0.0`, the ping the node serves) and closed if
 * the peer does not answer. This is for finding dead peers, so once a minute.
 */
export const CONNECTION_PING_INTERVAL_MS = 60_000
/** the wait for a monitor ping's reply before the connection counts as dead */
export const CONNECTION_PING_MIN_TIMEOUT_MS = 10_000
/**
 * Inbound connections accepted per second from one IP address (libp2p's default is 5). The limit
 * runs before the Noise handshake, when the peer is not known yet, so it cannot tell members
 * apart: 20–50 members on one host (or behind one NAT) all reconnect at once after a restart or
 * a network change and must not be refused. Non-members still cost one handshake each before the
 * membership gater hangs up; this bounds that work per address.
 */
export const INBOUND_CONNECTIONS_PER_HOST_PER_S = 100
/** inbound connections in their handshake at once (libp2p's default is 10) */
export const MAX_INCOMING_PENDING_CONNECTIONS = 64
/** ping streams per connection and direction */
export const PING_MAX_STREAMS = 4
/** the mesh's own DHT, apart from the public IPFS one */
export const DHT_PROTOCOL = '/cit/kad/1.0.0'
/** most DHT records (provider records, puts) a node keeps in memory; the oldest-written go first */
export const DHT_MAX_RECORDS = 10_000

/**
 * Largest gossipsub RPC frame accepted. One frame can carry several messages (an IWANT reply is
 * sent unsplit), so this is a multiple of the per-message limit that each GossipChannel enforces.
 */
export const GOSSIP_MAX_RPC_BYTES = 4 * 1024 * 1024

/**
 * Messages from this size on are answered with IDONTWANT to the mesh peers (gossipsub's default
 * is 512 bytes). Load reports and most job events are smaller: for them the control message
 * costs a frame and a socket write per peer, as much as the duplicate copy it would save.
 */
export const GOSSIP_IDONTWANT_MIN_BYTES = 16 * 1024
/**
 * Gossipsub's topic mesh degree (its defaults: D 6, Dlo 4, Dhi 12, Dlazy 6). Every message is
 * flood-published: the publisher sends it to every connected subscriber, which in a mesh of up to
 * REDIAL_MAX_CONNECTED + 1 members is every member. Each receiver then forwards it to its own
 * topic mesh, and each node receives one copy from the publisher and one from every mesh peer:
 * with the defaults about 9 copies per node in a 10-node mesh, 8 of them duplicates, each a frame
 * to encrypt, send, decrypt and decode. With a degree of 3 (at most 4) a node gets 4–5 copies, and
 * the members the publisher is not connected to are still reached in a few hops (a random graph of
 * degree 3 is connected), or by IHAVE from GOSSIP_DLAZY peers outside the topic mesh at the next
 * heartbeat, or at the next sync.
 */
export const GOSSIP_D = 3
export const GOSSIP_DLO = 2
export const GOSSIP_DHI = 4
/** of the mesh, peers this node dialed (gossipsub: below Dlo and at most D / 2) */
export const GOSSIP_DOUT = 1
/** of the mesh, peers kept for their score when it is pruned (at most D) */
export const GOSSIP_DSCORE = 2
/** peers outside the topic mesh sent IHAVE at each heartbeat that saw messages */
export const GOSSIP_DLAZY = 3
/**
 * Share of the peers outside the topic mesh sent IHAVE at a heartbeat, when that is more than
 * GOSSIP_DLAZY (gossipsub's default 0.25). With every member connected to every other, the share
 * made the IHAVEs each node sends grow with the mesh (11 a heartbeat among 50 nodes): 0 keeps
 * them at GOSSIP_DLAZY whatever the size.
 */
export const GOSSIP_FACTOR = 0
/** outbound gossipsub buffer per peer before sends to it fail (a slow peer must not grow memory) */
export const GOSSIP_MAX_OUTBOUND_BUFFER_BYTES = 16 * 1024 * 1024

/** how long the bootstrap module waits after start before its single dial */
export const BOOTSTRAP_DELAY_MS = 100

/** how often the redialer looks for known members that are not connected */
export const REDIAL_INTERVAL_MS = 3_000
/** first wait after a failed redial; doubles per consecutive failure */
export const REDIAL_BACKOFF_MIN_MS = 1_000
/** longest wait between redials of one peer */
export const REDIAL_BACKOFF_MAX_MS = 60_000
/** deadline of one redial attempt */
export const REDIAL_DIAL_TIMEOUT_MS = 10_000
/** redials in flight at once */
export const REDIAL_MAX_PARALLEL = 4
/**
 * The redialer dials remembered (non-bootstrap) members only while fewer than this many members
 * are connected: above gossipsub's largest topic mesh (12) plus room for lease acceptors and fetch
 * holders, which are dialled on demand anyway. A mesh of up to this size stays fully connected; a
 * larger one keeps a bounded number of connections per node instead of N - 1.
 */
export const REDIAL_MAX_CONNECTED = 24
/** peers remembered for redialing (bootstrap entries always count) */
export const REDIAL_MAX_PEERS = 256
/** a remembered (non-bootstrap) peer is forgotten after this many failed redials in a row */
export const REDIAL_FORGET_AFTER_FAILURES = 40

/** at most one log line per reason per this period; the rest are counted and summarised */
export const LOG_RATE_LIMIT_MS = 10_000
