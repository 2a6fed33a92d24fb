/**
 * Sync on connect: gossip loses messages, so peers that connect pull from each other's record
 * log everything after the mark they stored last time (`/cit/sync/1.0.0`: CBOR requests and
 * pages in varint length-prefixed frames, bounded in size, count and time).
 */
export { SyncService } from './service.js'
export type { SyncServiceComponents, SyncServiceInit } from './service.js'
export type { RecordLog, RecordLogItem, SyncMark, SyncMarks, Ingest, SyncStats, SyncSideStats, SyncResult } from './types.js'
export type { SyncRequest, SyncPage, SyncErrorReply } from './messages.js'
export { encodeRequest, encodePage, parseRequest, parsePage } from './messages.js'
export { FrameReader, encodeFrame, encodeVarint, writeFrame } from '../codec/frames.js'
export { SyncTimeoutError, SyncRemoteError, PeerNotAllowedError, SyncAbortedError, IngestFailedError } from './errors.js'
export { ServeFailedError } from './server.js'
export * from './constants.js'
