/**
 * Defaults and limits of the quorum lease. Units are in the names. The protocol id, the message
 * limits, the clock-skew window and the acceptor counts are part of the wire contract: every
 * node must use the same values.
 */

/** the libp2p protocol of lease messages: one long-lived stream per pair of members */
export const LEASE_PROTOCOL = '/cit/lease/1.0.0'

/** envelope types (`t`) of lease messages */
export const LEASE_REQUEST = 'lease-req'
export const LEASE_REPLY = 'lease-rep'
export const LEASE_GRANT = 'lease-grant'
export const LEASE_VOTE = 'lease-vote'

/** a job's acceptors: every member below this many builders, else ACCEPTORS … */
export const ACCEPTORS = 3
/** … and ACCEPTORS_LARGE from LARGE_MESH_BUILDERS builders on */
export const ACCEPTORS_LARGE = 5
export const LARGE_MESH_BUILDERS = 7

/** how long a grant or renewal holds the job */
export const LEASE_TTL_MS = 15_000
/** how often a holder renews (one message per acceptor for all its jobs there) */
export const RENEW_EVERY_MS = 5_000
/**
 * Margin for clocks that run at different rates and for scheduling delays: a holder stops
 * counting on its lease this long before the TTL it measured ran out, and an acceptor grants the
 * next epoch only this long after the TTL it measured ran out.
 */
export const SKEW_MARGIN_MS = 2_000
/** a request signed further than this from the acceptor's clock is refused (replays, broken clocks) */
export const CLOCK_SKEW_MS = 5_000
/** longest lease a claim may ask for */
export const MAX_LEASE_TTL_MS = 5 * 60_000
/** deadline of one request to one acceptor */
export const LEASE_CALL_TIMEOUT_MS = 3_000
/** how long a holder keeps asking for finish votes before it gives up (others then run the job again) */
export const FINISH_TIMEOUT_MS = 30_000
/** how often unanswered finish requests are sent again */
export const FINISH_RETRY_MS = 1_000
/**
 * vote records an acceptor keeps in memory (the rest are read back from its vote store when a
 * request names them). Every job it was an acceptor of leaves a decided record that is never
 * released (its holder finishes instead): kept in memory, they grew the daemon by every job.
 */
export const ACCEPTOR_CACHE_RECORDS = 1024
/** requests one peer may have open at one acceptor */
export const MAX_INFLIGHT_PER_PEER = 256

/** largest lease message: a claim may carry the job's announcement (at most 256 KiB) */
export const MAX_LEASE_MESSAGE_BYTES = 300 * 1024
/** most (job, epoch) items in one renewal or release */
export const MAX_BATCH_ITEMS = 1024
/** longest reason string in a refusal */
export const MAX_REASON_CHARS = 200

/**
 * a link sends an empty frame when it has sent nothing for this long … (it was 10 s: with a link to
 * every member, an idle node sent and received one frame per member every 10 s, about a fifth of
 * the frames an idle 5-node mesh received; a dead connection is closed by the connection monitor within
 * about 80 s anyway, which ends its links)
 */
export const KEEPALIVE_MS = 30_000
/** … and closes when it has received nothing for this long (yamux does not enforce its own): three keepalives and some */
export const IDLE_TIMEOUT_MS = 95_000
/** deadline for opening a link's stream */
export const OPEN_TIMEOUT_MS = 5_000

/**
 * The highest epoch a lease message or a job event may name (2^32): far beyond any real job's
 * hand-overs, far below 2^53, so nobody can park a job at an epoch with no successor.
 */
export const MAX_EPOCH = 2 ** 32
/** most epochs an acceptor skips ahead on another acceptor's word (a lagging acceptor's catch-up) */
export const MAX_EPOCH_LEAP = 64
