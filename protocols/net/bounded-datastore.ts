import { MemoryDatastore } from 'datastore-core'
import { ownBytes } from '../codec/bytes.js'
import type { Key } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'

/** the peer store's keys: members only (the gater admits nobody else), never evicted */
const PEER_STORE_PREFIX = '/peers/'

/**
 * libp2p's store in memory, holding the kad-dht's provider records and any record a peer puts:
 * at most `maxEntries` of those. When it is full the oldest-written goes first: providers are
 * announced again periodically, so a member that floods it pushes out only records that come
 * back. The peer store's entries (members only) are not counted and never evicted.
 *
 * Every value is kept as a copy of its own, and keys as strings: kad-dht hands over small views of
 * larger buffers (a provider record's few bytes, and a `Key`'s, are slices of Node.js's shared 8 KiB
 * Buffer pool, or of a received message), and a kept view keeps the whole of that buffer alive.
 * Kept as given, each provider record held 8–16 KiB of native memory, so a daemon grew by that for
 * every result blob announced to it (up to the bound: some 100 MiB).
 */
export class BoundedDatastore extends MemoryDatastore {
  /** entries let go to stay within the bound */
  evicted = 0
  /**
   * the bounded (non-peer-store) keys, oldest-written first, as strings: a `Key` holds its bytes
   * as a slice of the 8 KiB Buffer pool, which keeping the Key would keep
   */
  private readonly order = new Set<string>()

  constructor (readonly maxEntries: number) {
    super()
    if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) throw new TypeError('BoundedDatastore: maxEntries must be a positive integer')
  }

  /** bounded entries held now */
  get size (): number { return this.order.size }

  override put (key: Key, val: Uint8Array, options?: AbortOptions): ReturnType<MemoryDatastore['put']> {
    const k = key.toString()
    if (!k.startsWith(PEER_STORE_PREFIX)) {
      // a rewrite counts as new: it moves to the end of the eviction order
      this.order.delete(k)
      while (this.order.size >= this.maxEntries) {
        const oldest = this.order.values().next().value
        if (oldest == null) break
        this.order.delete(oldest)
        // a Key made for the call, of the class the caller's keys are
        void super.delete(new (key.constructor as new (s: string) => Key)(oldest))
        this.evicted++
      }
      this.order.add(k)
    }
    return super.put(key, ownBytes(val), options)
  }

  override delete (key: Key, options?: AbortOptions): ReturnType<MemoryDatastore['delete']> {
    this.order.delete(key.toString())
    return super.delete(key, options)
  }
}

