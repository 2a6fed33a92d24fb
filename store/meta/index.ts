/**
 * Metadata in LevelDB: named tables of CBOR values with atomic multi-table batches.
 */
export { MetaStore, Table } from './meta-store.js'
export { RecordLog } from './record-log.js'
export type { LogItem } from './record-log.js'
export type { MetaStoreInit, MetaOp, RangeOptions } from './meta-store.js'
