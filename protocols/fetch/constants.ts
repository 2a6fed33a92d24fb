/** Defaults and limits of the fetch protocol. Units are in the names. */

/** blob ranges by hash, with receiver-granted credit */
export const FETCH_PROTOCOL = '/cit/fetch/1.0.0'

const MiB = 1024 * 1024

/**
 * Credit a client grants when it opens a request, and the most it keeps outstanding afterwards.
 * yamux alone does not bound a sender's memory (its queue grows to the whole file), so this is
 * what bounds both ends: at most this many bytes are in flight or buffered per request.
 */
export const FETCH_WINDOW_BYTES = 8 * MiB
/** the client grants more credit after consuming (writing out) this many bytes */
export const FETCH_ACK_BYTES = 2 * MiB
/** a server refuses (resets) a client whose outstanding credit would exceed this */
export const FETCH_MAX_WINDOW_BYTES = 64 * MiB

/** a request frame at most (a hash, two integers, CBOR overhead) */
export const FETCH_MAX_REQUEST_BYTES = 256
/** a credit frame at most */
export const FETCH_MAX_CREDIT_BYTES = 32
/** a reply header frame at most */
export const FETCH_MAX_HEADER_BYTES = 256
/** longest error code accepted in a reply header */
export const FETCH_MAX_ERROR_CHARS = 64

/** wait for the request, for credit, or for the next data bytes: whoever stalls this long is cut off */
export const FETCH_FRAME_TIMEOUT_MS = 15_000
/** one request (one stream) at most, on either side; ask for ranges when a whole blob would take longer */
export const FETCH_REQUEST_TIMEOUT_MS = 10 * 60_000

/** concurrent inbound fetch streams per connection (libp2p refuses more) */
export const FETCH_MAX_INBOUND_STREAMS_PER_CONNECTION = 8
/** outbound fetch streams per connection */
export const FETCH_MAX_OUTBOUND_STREAMS_PER_CONNECTION = 8
/** requests served at once by a node, over all peers; more are answered ERR_BUSY */
export const FETCH_MAX_CONCURRENT_REQUESTS = 32

// announcing blobs through the DHT (providers.ts)

/**
 * Announce every held blob again this often. kad-dht peers drop provider records after 48 h;
 * announcing far more often also tells members who joined since (a record is stored on the
 * peers closest to the key at the time it is announced).
 */
export const PROVIDE_REANNOUNCE_INTERVAL_MS = 6 * 60 * 60_000
/** a round that could not reach anyone (no connections, or announcements failed) is retried this soon */
export const PROVIDE_RETRY_INTERVAL_MS = 60_000
/** one announcement (a DHT query for the closest peers plus ADD_PROVIDER to each) at most */
export const PROVIDE_TIMEOUT_MS = 30_000
/** one search for holders at most; what was found by then is returned */
export const PROVIDE_FIND_TIMEOUT_MS = 10_000
/** holders a search returns at most (more would not speed a download up) */
export const PROVIDE_MAX_HOLDERS = 16
/** announcements in flight during a round over every held blob */
export const PROVIDE_ANNOUNCE_CONCURRENCY = 4
/**
 * Blobs queued with `announceSoon` (a job's results, a fetched copy) are announced together once
 * none was queued for this long: the DHT work of a job's results lands after a burst of jobs, not
 * in the window where the node takes the next one (fetches find a fresh result's executor from
 * the signed result itself, see node/artefacts). A minute, not seconds: in a mesh of ten a node
 * runs one job in ten, so a gap of 10 s on one node fell in the middle of the mesh's burst (its
 * batch then slowed others' announcements).
 */
export const PROVIDE_QUIET_MS = 60_000
/** ... and at the latest this long after the oldest of them was queued (a node that never goes quiet) */
export const PROVIDE_BATCH_MAX_WAIT_MS = 5 * 60_000

// the bulk channel (bulk-server.ts, bulk-client.ts): the bytes of a range over plain TCP

/** a range asked for over libp2p, answered with a single-use ticket for a TCP connection */
export const FETCH_BULK_PROTOCOL = '/cit/fetch-bulk/1.0.0'
/** plaintext bytes per sealed record (the last one of a range may be shorter) */
export const BULK_RECORD_BYTES = 1024 * 1024
/** a ticket not redeemed within this long is dropped */
export const BULK_TICKET_TTL_MS = 10_000
/** tickets outstanding at once (issued, not yet redeemed or expired); more requests get ERR_BUSY */
export const BULK_MAX_TICKETS = 64
/**
 * ranges sent at once on the bulk channel, over all peers: a redeemed ticket's transfer counts
 * until its socket closes. Tickets are refused (ERR_BUSY) while this many run, and a ticket
 * redeemed when they are full gets its connection closed unanswered. As many as fetch serves at
 * once (FETCH_MAX_CONCURRENT_REQUESTS), so the bulk channel is no tighter than the stream one.
 */
export const BULK_MAX_ACTIVE_SENDS = 32
/**
 * TCP connections open on the bulk listener at once (`server.maxConnections`), counting the
 * ones still waiting for their hello: it may listen on every interface, so unauthenticated
 * sockets are bounded too (room for every ticket and every send at once). More are closed as
 * they come.
 */
export const BULK_MAX_CONNECTIONS = 128
/** the client's first bytes on a bulk connection must arrive within this long */
export const BULK_HELLO_TIMEOUT_MS = 5_000
/** the reply to a bulk request at most */
export const BULK_MAX_REPLY_BYTES = 256
