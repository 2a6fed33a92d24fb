import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { BoundedDatastore } from '../../../protocols/net/index.js'
import { cidOfHash } from '../../../protocols/fetch/providers.js'
import { addrOf, connected, TestMesh } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'
import { fullCollection } from '../../../node/memory/collect.js'

const keyOf = async (text: string): Promise<any> => {
  // the Key class the datastore takes, from the same package libp2p uses
  const { Key } = await import('interface-datastore')
  return new Key(text)
}

describe('the DHT store is bounded', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  it('keeps at most maxEntries records, the oldest-written going first, and never evicts the peer store', async () => {
    const store = new BoundedDatastore(10)
    const peers = await keyOf('/peers/member')
    await store.put(peers, new Uint8Array([1]))
    for (let i = 0; i < 25; i++) await store.put(await keyOf(`/providers/${i}`), new Uint8Array([i]))
    expect(store.size).toBe(10)
    expect(store.evicted).toBe(15)
    expect(await store.has(await keyOf('/providers/14'))).toBe(false)
    expect(await store.has(await keyOf('/providers/15'))).toBe(true)
    expect(await store.has(peers)).toBe(true)
    // a rewrite moves a record to the end: it outlives records written before it
    await store.put(await keyOf('/providers/15'), new Uint8Array([0]))
    await store.put(await keyOf('/providers/x'), new Uint8Array([0]))
    expect(await store.has(await keyOf('/providers/15'))).toBe(true)
    expect(() => new BoundedDatastore(0)).toThrow(TypeError)
  })

  it('keeps each value in a buffer of its own, not as a view that pins a larger one', async () => {
    const store = new BoundedDatastore(10)
    // a small view into a large buffer, as kad-dht hands over (a slice of the Buffer pool, of a message)
    const big = new Uint8Array(8192).fill(7)
    await store.put(await keyOf('/providers/a'), big.subarray(100, 108))
    await store.put(await keyOf('/peers/member'), Buffer.from(big.buffer, 200, 16))
    for (const k of ['/providers/a', '/peers/member']) {
      const v = await store.get(await keyOf(k))
      expect(v.buffer.byteLength).toBe(v.byteLength)
      expect([...v].every(b => b === 7)).toBe(true)
    }
  })

  it('keeps no key it was given: a key\'s bytes may be a view of a larger buffer, which must be free to go', async () => {
    const collect = fullCollection()
    if (collect == null) throw new Error('no full collection in this runtime')
    const { Key } = await import('interface-datastore')
    const store = new BoundedDatastore(3)
    let gone = false
    const registry = new FinalizationRegistry(() => { gone = true })
    await (async () => {
      // the key's bytes are a view into a large buffer, as a key decoded from a message (or a slice of the Buffer pool) is
      const big = new Uint8Array(1 << 20)
      const name = new TextEncoder().encode('/providers/held')
      big.set(name, 64)
      registry.register(big.buffer, 'big')
      for (let i = 0; i < 5; i++) await store.put(new Key(`/providers/${i}`), new Uint8Array([i]))
      await store.put(new Key(big.subarray(64, 64 + name.byteLength)), new Uint8Array([9]))
    })()
    expect(await store.has(new Key('/providers/held'))).toBe(true)
    await waitFor(async () => {
      collect()
      await new Promise(resolve => setImmediate(resolve))
      return gone
    }, { what: 'the buffer behind the key to be collected' })
    // and eviction still works from what the store kept
    for (let i = 5; i < 10; i++) await store.put(new Key(`/providers/${i}`), new Uint8Array([i]))
    expect(store.size).toBe(3)
    expect(await store.has(new Key('/providers/held'))).toBe(false)
  })

  it('a member that announces many provider records to a node grows its store no further than the bound', async () => {
    const a = await mesh.node(await mesh.identity(), { dhtMaxRecords: 20 })
    const b = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(a)] })
    await waitFor(() => connected(a, b) && connected(b, a), { what: 'a and b to connect' })
    // kad-dht's routing table is not in its public type: b must have a in it before it provides
    await waitFor(() => (b.services.dht as unknown as { routingTable: { size: number } }).routingTable.size > 0, { what: 'b to have a in its routing table' })
    for (let i = 0; i < 60; i++) {
      const hash = createHash('sha256').update(`blob ${i}`).digest('hex')
      for await (const event of b.services.dht.provide(cidOfHash(hash), { signal: AbortSignal.timeout(10_000) })) void event
    }
    const store = (a as unknown as { components: { datastore: BoundedDatastore } }).components.datastore
    expect(store).toBeInstanceOf(BoundedDatastore)
    expect(store.size).toBeLessThanOrEqual(20)
    expect(store.evicted).toBeGreaterThan(0)
    // the records a peer announced hold no buffer larger than themselves (each held 8 KiB before)
    for await (const { value } of store.query({})) expect(value.buffer.byteLength).toBe(value.byteLength)
  }, 60_000)
})
