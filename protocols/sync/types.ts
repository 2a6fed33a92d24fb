/** one record of a node's log: its local sequence number and the signed envelope's bytes */
export interface RecordLogItem {
  seq: number
  bytes: Uint8Array
}

/**
 * The node's append-only log of signed records, as the sync server reads it (the daemon's
 * store implements it). `logId` is random per database, so a peer notices a wiped log.
 */
export interface RecordLog {
  readonly logId: string
  /**
   * Records with `seq > after` in order: at most `limit`, and stopping before `maxBytes` would be
   * passed (always at least one record if any exists). `lastSeq` is the highest seq handed out.
   */
  readAfter: (after: number, limit: number, maxBytes: number) => Promise<{ items: RecordLogItem[], lastSeq: number }>
}

/** how far this node has pulled a peer's log */
export interface SyncMark {
  logId: string
  seq: number
}

/** where marks are kept (the daemon's metadata store) */
export interface SyncMarks {
  get: (peerId: string) => Promise<SyncMark | undefined>
  set: (peerId: string, mark: SyncMark) => Promise<void>
}

/**
 * Hand one synced envelope to the node. Resolves when the record is handled: stored, a duplicate,
 * or refused as invalid (not the sync layer's concern). Rejects only if it could not be handled
 * (e.g. storage failed): the page is then not marked done and will be pulled again.
 */
export type Ingest = (bytes: Uint8Array, from: string) => Promise<void>

/** counters for one direction */
export interface SyncSideStats {
  sessions: number
  pages: number
  items: number
  /** failed sessions by error code (ERR_MALFORMED, ERR_TOO_LARGE, ERR_TIMEOUT, …) */
  errors: Record<string, number>
}

export interface SyncStats {
  /** what this node served to peers */
  served: SyncSideStats
  /** what this node pulled from peers */
  pulled: SyncSideStats
  /** inbound sessions refused because the peer is not allowed */
  refused: number
}

/** the outcome of pulling from one peer */
export interface SyncResult {
  pages: number
  items: number
  /** the peer has more than the session limits let through; another sync continues from the mark */
  more: boolean
}
