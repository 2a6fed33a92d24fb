import { decodeCbor, encodeCbor, isRecord } from '../codec/cbor.js'
import { MalformedMessageError } from '../codec/errors.js'
import { SYNC_MAX_ITEM_BYTES, SYNC_MAX_LOG_ID_CHARS } from './constants.js'
import { SyncRemoteError } from './errors.js'

/** client → server: the records after `after` in the server's log, at most `limit` of them */
export interface SyncRequest {
  /** the server's log id the client's `after` refers to; a different one makes the server start from 0 */
  logId?: string
  after: number
  limit: number
}

/** server → client: one page */
export interface SyncPage {
  logId: string
  items: Uint8Array[]
  /** the `after` for the next request */
  next: number
  /** whether the log holds records after `next` */
  more: boolean
}

/** server → client when it cannot serve: a status code, never details */
export interface SyncErrorReply {
  error: string
}

function isCount (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isLogId (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= SYNC_MAX_LOG_ID_CHARS
}

function onlyKeys (map: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(map)) {
    if (!allowed.includes(key)) throw new MalformedMessageError(`${what} has an unknown field ${JSON.stringify(key.slice(0, 40))}`)
  }
}

export function encodeRequest (req: SyncRequest): Uint8Array {
  return encodeCbor(req)
}

export function encodePage (page: SyncPage): Uint8Array {
  return encodeCbor(page)
}

export function encodeErrorReply (code: string): Uint8Array {
  return encodeCbor({ error: code } satisfies SyncErrorReply)
}

/** parse a request frame; throws ERR_MALFORMED naming the problem */
export function parseRequest (bytes: Uint8Array, maxBytes: number): SyncRequest {
  const raw = decodeCbor(bytes, maxBytes)
  if (!isRecord(raw)) throw new MalformedMessageError('sync request is not a map')
  onlyKeys(raw, ['logId', 'after', 'limit'], 'sync request')
  const { logId, after, limit } = raw
  if (logId !== undefined && !isLogId(logId)) throw new MalformedMessageError('sync request: logId is not a short string')
  if (!isCount(after)) throw new MalformedMessageError('sync request: after is not a non-negative integer')
  if (!isCount(limit) || limit === 0) throw new MalformedMessageError('sync request: limit is not a positive integer')
  return logId === undefined ? { after, limit } : { logId, after, limit }
}

/**
 * Parse a response frame to `req`; throws ERR_MALFORMED if it is not a consistent page,
 * ERR_REMOTE if the server answered with an error status.
 */
export function parsePage (bytes: Uint8Array, maxBytes: number, req: SyncRequest): SyncPage {
  const raw = decodeCbor(bytes, maxBytes)
  if (!isRecord(raw)) throw new MalformedMessageError('sync response is not a map')
  if ('error' in raw) {
    onlyKeys(raw, ['error'], 'sync error reply')
    if (typeof raw.error !== 'string' || raw.error.length === 0 || raw.error.length > 64) throw new MalformedMessageError('sync error reply: bad code')
    throw new SyncRemoteError(raw.error)
  }
  onlyKeys(raw, ['logId', 'items', 'next', 'more'], 'sync response')
  const { logId, items, next, more } = raw
  if (!isLogId(logId)) throw new MalformedMessageError('sync response: logId is not a short string')
  if (!Array.isArray(items)) throw new MalformedMessageError('sync response: items is not a list')
  if (items.length > req.limit) throw new MalformedMessageError(`sync response: ${items.length} items, asked for ${req.limit}`)
  for (const item of items) {
    if (!(item instanceof Uint8Array)) throw new MalformedMessageError('sync response: an item is not bytes')
    if (item.byteLength > SYNC_MAX_ITEM_BYTES) throw new MalformedMessageError(`sync response: an item of ${item.byteLength} bytes is over the limit`)
  }
  if (!isCount(next)) throw new MalformedMessageError('sync response: next is not a non-negative integer')
  if (typeof more !== 'boolean') throw new MalformedMessageError('sync response: more is not a boolean')
  // a page that promises more must make progress, or a peer could keep a client asking forever
  if (more && items.length === 0) throw new MalformedMessageError('sync response: more without items')
  const sameLog = req.logId === undefined || req.logId === logId
  if (sameLog && next < req.after) throw new MalformedMessageError('sync response: next goes backwards')
  if (sameLog && items.length > 0 && next === req.after) throw new MalformedMessageError('sync response: items without progress')
  return { logId, items: items as Uint8Array[], next, more }
}
