import { MAX_ENVELOPE_BYTES } from '../codec/envelope.js'

/** the request/response protocol that lets two peers exchange what the other is missing */
export const SYNC_PROTOCOL = '/cit/sync/1.0.0'

/** records per page at most (a client may ask for fewer) */
export const SYNC_MAX_PAGE_ITEMS = 256
/** bytes of records per page: the server stops filling a page before it would pass this */
export const SYNC_MAX_PAGE_BYTES = 1024 * 1024
/** one record at most: a signed envelope. Larger records are skipped by servers, refused by clients */
export const SYNC_MAX_ITEM_BYTES = MAX_ENVELOPE_BYTES
/** a request frame at most */
export const SYNC_MAX_REQUEST_BYTES = 1024
/** a response frame at most: a full page plus CBOR overhead (a few bytes per item) */
export const SYNC_MAX_RESPONSE_BYTES = SYNC_MAX_PAGE_BYTES + 16 * 1024
/** wait for one frame; on the server this includes the client's ingest of the previous page */
export const SYNC_FRAME_TIMEOUT_MS = 15_000
/** one session (one stream) at most */
export const SYNC_SESSION_TIMEOUT_MS = 120_000
/** pages per session; a session that ends with more to come is followed by another */
export const SYNC_MAX_PAGES_PER_SESSION = 1000
/** sessions one sync of a peer runs back to back before it waits for the next connection */
export const SYNC_MAX_SESSIONS_PER_SYNC = 16
/** concurrent inbound sync streams per connection */
export const SYNC_MAX_INBOUND_STREAMS = 2
/** longest log id accepted on the wire */
export const SYNC_MAX_LOG_ID_CHARS = 128
