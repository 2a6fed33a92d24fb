import { mkdir } from 'node:fs/promises'
import { decode, encode } from 'cborg'
import { Level } from 'level'
import { StoreError } from '../errors.js'
import { silentLogger } from '../logger.js'
import type { Logger } from '../logger.js'

/**
 * LevelDB's block cache and memtable (the defaults are 8 and 4 MiB, which a daemon's small
 * metadata store fills over a day and then keeps): the hot records are in the job store's own
 * maps, so a smaller cache costs little, and a smaller memtable only means more, smaller flushes.
 */
const DB_CACHE_BYTES = 2 * 1024 * 1024
const DB_WRITE_BUFFER_BYTES = 1024 * 1024

type Db = Level<string, Uint8Array>
type Sub = ReturnType<Db['sublevel']>

export interface MetaStoreInit {
  /** directory of the LevelDB database */
  path: string
}

/** one write in an atomic batch across tables */
export type MetaOp =
  | { type: 'put', table: string, key: string, value: unknown }
  | { type: 'del', table: string, key: string }

export interface RangeOptions {
  /** keys starting with this prefix */
  prefix?: string
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  reverse?: boolean
  limit?: number
  signal?: AbortSignal
}

/**
 * A named key space of CBOR-encoded values inside the metadata database.
 */
export class Table<T> {
  constructor (private readonly sub: Sub, readonly name: string) {}

  async get (key: string): Promise<T | undefined> {
    const bytes = await this.sub.get(key, { valueEncoding: 'view' }) as Uint8Array | undefined
    return bytes == null ? undefined : decode(bytes) as T
  }

  async getMany (keys: string[]): Promise<Array<T | undefined>> {
    const values = await this.sub.getMany(keys, { valueEncoding: 'view' }) as Array<Uint8Array | undefined>
    return values.map(v => v == null ? undefined : decode(v) as T)
  }

  async has (key: string): Promise<boolean> {
    return (await this.sub.get(key, { valueEncoding: 'view' })) != null
  }

  /** entries in key order within a range; a `prefix` narrows to keys that start with it */
  async * entries (options: RangeOptions = {}): AsyncGenerator<[string, T]> {
    const range: Record<string, unknown> = { valueEncoding: 'view', reverse: options.reverse ?? false, limit: options.limit ?? -1 }
    if (options.prefix != null) {
      range.gte = options.prefix
      range.lt = options.prefix + '\xff'
    }
    for (const k of ['gt', 'gte', 'lt', 'lte'] as const) if (options[k] != null) range[k] = options[k]
    for await (const [key, value] of this.sub.iterator(range)) {
      options.signal?.throwIfAborted()
      yield [key as string, decode(value as Uint8Array) as T]
    }
  }

  async * keys (options: RangeOptions = {}): AsyncGenerator<string> {
    for await (const [key] of this.entries(options)) yield key
  }

  /** @internal */
  op (op: MetaOp): Record<string, unknown> {
    return op.type === 'put'
      ? { type: 'put', sublevel: this.sub, key: op.key, value: encode(op.value, { ignoreUndefinedProperties: true }) }
      : { type: 'del', sublevel: this.sub, key: op.key }
  }
}

/**
 * Metadata (jobs, events, results, grants) in LevelDB. Values are canonical CBOR; multi-table
 * writes go through `batch()` so they land together or not at all.
 */
export class MetaStore {
  private db?: Db
  private readonly tables = new Map<string, Table<unknown>>()
  private readonly log: Logger

  constructor (components: { logger?: Logger }, private readonly init: MetaStoreInit) {
    this.log = components.logger ?? silentLogger
  }

  async start (): Promise<void> {
    if (this.db != null) return
    await mkdir(this.init.path, { recursive: true })
    const db: Db = new Level<string, Uint8Array>(this.init.path, { valueEncoding: 'view', cacheSize: DB_CACHE_BYTES, writeBufferSize: DB_WRITE_BUFFER_BYTES })
    try {
      await db.open()
    } catch (err) {
      throw new StoreError('ERR_DB_OPEN', `cannot open the metadata database at ${this.init.path}`, { cause: err })
    }
    this.db = db
    this.log.debug('metadata store open', { path: this.init.path })
  }

  async stop (): Promise<void> {
    const db = this.db
    if (db == null) return
    this.db = undefined
    this.tables.clear()
    await db.close()
  }

  table<T> (name: string): Table<T> {
    if (this.db == null) throw new StoreError('ERR_NOT_STARTED', 'metadata store is not started')
    let t = this.tables.get(name)
    if (t == null) {
      t = new Table<unknown>(this.db.sublevel<string, Uint8Array>(name, { valueEncoding: 'view' }) as unknown as Sub, name)
      this.tables.set(name, t)
    }
    return t as Table<T>
  }

  /** apply writes to several tables atomically; `sync` waits for the OS to persist them */
  async batch (ops: MetaOp[], options: { sync?: boolean } = {}): Promise<void> {
    if (this.db == null) throw new StoreError('ERR_NOT_STARTED', 'metadata store is not started')
    if (ops.length === 0) return
    const encoded = ops.map(op => this.table(op.table).op(op))
    await this.db.batch(encoded as never, { sync: options.sync ?? false })
  }
}
