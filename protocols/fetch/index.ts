/**
 * Artefact transfer between members: `/cit/fetch/1.0.0` serves byte ranges of stored blobs by
 * hash to peers with the read role, paced by credit the receiver grants (an application-level
 * window: yamux alone lets a sender queue a whole file in memory). `fetchRange` is the client;
 * it does not verify (a range cannot be checked against the whole's hash): the assembler does.
 * `Providers` announces held blobs in the DHT (CIDv1 raw sha2-256) and finds their holders.
 * See docs/protocols/fetch.md.
 */
export { FetchService } from './service.js'
export type { FetchServiceComponents, FetchServiceInit, FetchServiceStats } from './service.js'
export { fetchRange } from './client.js'
export { fetchRangeBulk } from './bulk-client.js'
export { BulkServer, bulkHostFor } from './bulk-server.js'
export type { FetchRangeOptions, FetchRangeResult, FetchSink } from './client.js'
export { Providers, ProvideFailedError, cidOfHash } from './providers.js'
export type { ProvidersComponents, ProvidersInit } from './providers.js'
export { FETCH_ERROR_CODES, encodeRequest, encodeCredit, encodeHeader, parseRequest, parseHeader, parseCredit } from './messages.js'
export type { FetchRequest, FetchHeader, FetchCredit, FetchErrorCode } from './messages.js'
export { FetchRefusedError, ServeFailedError } from './server.js'
export {
  FetchRemoteError, FetchTimeoutError, FetchAbortedError, FetchTruncatedError, FetchSizeMismatchError, FetchWindowError,
  FetchUnreachableError, FetchResetError, FetchBulkUnavailableError, InvalidFetchArgumentError
} from './errors.js'
export * from './constants.js'
