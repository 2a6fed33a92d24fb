/** Defaults of the connection layer. Units are in the names. */

/** libp2p protocol prefix for identify and ping: `/cit/id/1.0.0`, `/cit/ping/1.0.0` */
export const PROTOCOL_PREFIX = 'cit'
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
/** peers remembered for redialing (bootstrap entries always count) */
export const REDIAL_MAX_PEERS = 256
/** a remembered (non-bootstrap) peer is forgotten after this many failed redials in a row */
export const REDIAL_FORGET_AFTER_FAILURES = 40

/** at most one log line per reason per this period; the rest are counted and summarised */
export const LOG_RATE_LIMIT_MS = 10_000
