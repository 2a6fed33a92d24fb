/**
 * A fetch asks the holders a signed result names (its executor) before the DHT: real libp2p nodes
 * on 127.0.0.1, real blob stores, the DHT's provide and findProviders counted on each node.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Fetcher, ResultHolders } from '../../../node/artefacts/index.js'
import { Providers } from '../../../protocols/fetch/index.js'
import { FetchMesh, MiB, corruptStored, storeRandom } from '../../protocols/fetch/helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { FetcherInit } from '../../../node/artefacts/index.js'
import type { FetchNode } from '../../protocols/fetch/helpers.js'

/** count the DHT operations of a node: provides (announcements) and findProviders (searches) */
function countDht (node: FetchNode): { provides: number, finds: number } {
  const counts = { provides: 0, finds: 0 }
  const dht = node.libp2p.services.dht
  const provide = dht.provide.bind(dht)
  const findProviders = dht.findProviders.bind(dht)
  dht.provide = (...args) => { counts.provides++; return provide(...args) }
  dht.findProviders = (...args) => { counts.finds++; return findProviders(...args) }
  return counts
}

describe('Fetcher: the holders a result names first, the DHT when they fail', () => {
  const fm = new FetchMesh()
  const services: Array<{ stop: () => Promise<void> }> = []
  afterEach(async () => {
    await Promise.all(services.splice(0).map(async s => { await s.stop() }))
    await fm.stop()
  })

  async function providersOn (node: FetchNode): Promise<Providers> {
    // no round of its own during the test: what is announced is what the test announces
    const p = new Providers({ libp2p: node.libp2p, blobs: node.blobs }, { reannounceIntervalMs: 3_600_000, retryIntervalMs: 3_600_000 })
    services.push(p)
    return p
  }

  async function fetcherOn (node: FetchNode, hints: ResultHolders, init: Partial<FetcherInit> = {}): Promise<Fetcher> {
    const providers = await providersOn(node)
    const fetcher = new Fetcher({
      libp2p: node.libp2p,
      blobs: node.blobs,
      findHolders: async (h, o) => await providers.findHolders(h, o),
      hintHolders: h => hints.holdersOf(h),
      awaitHintHolders: async (h, o) => await hints.waitFor(h, o)
    }, { dir: node.dir, rangeBytes: MiB, ...init })
    await fetcher.start()
    services.push(fetcher)
    return fetcher
  }

  it('a fetch asked before the result reached this node waits for it: the executor it names serves the blob', async () => {
    const executor = await fm.node()
    const reader = await fm.node()
    await fm.connectAll()
    const log = await storeRandom(executor, MiB + 3)
    const hints = new ResultHolders()
    const fetcher = await fetcherOn(reader, hints, { hintWaitMs: 30_000 })
    const fetching = fetcher.fetch(log)
    // no result named the blob and nobody announced it: the fetch is waiting for a result
    await waitFor(() => hints.waiters === 1, { what: 'the fetch to wait for a result' })
    hints.learn({ executor: executor.id, blobs: [log] })
    expect(await fetching).toMatchObject({ foundBy: 'result', size: MiB + 3, byHolder: { [executor.id]: MiB + 3 } })
    expect(hints.waiters).toBe(0)
  })

  it('a fetch that no result names and nobody announced fails with ERR_NO_HOLDERS once its wait is over, keeping nothing', async () => {
    const executor = await fm.node()
    const reader = await fm.node()
    await fm.connectAll()
    const log = await storeRandom(executor, MiB)
    const hints = new ResultHolders()
    const fetcher = await fetcherOn(reader, hints, { hintWaitMs: 300 })
    await expect(fetcher.fetch(log)).rejects.toMatchObject({ code: 'ERR_NO_HOLDERS' })
    expect(hints.waiters).toBe(0)
    expect(await reader.blobs.has(log)).toBe(false)
  })

  it('fetches a fresh result from its executor before any provider record went out, without asking the DHT', async () => {
    const executor = await fm.node()
    const submitter = await fm.node()
    const reader = await fm.node()
    await fm.connectAll()
    const dht = [executor, submitter, reader].map(countDht)
    const log = await storeRandom(executor, 3 * MiB + 5)
    const hints = new ResultHolders()
    // the signed result names the executor; the submitting node has no copy
    hints.learn({ executor: executor.id, origin: submitter.id, blobs: [log] })
    const result = await (await fetcherOn(reader, hints)).fetch(log)
    expect(result).toMatchObject({ foundBy: 'result', size: 3 * MiB + 5, byHolder: { [executor.id]: 3 * MiB + 5 } })
    expect(await reader.blobs.has(log)).toBe(true)
    // nothing was announced, and nobody searched the DHT
    expect(dht).toEqual([{ provides: 0, finds: 0 }, { provides: 0, finds: 0 }, { provides: 0, finds: 0 }])
  })

  it('a fetch still finds a holder through the DHT when the executor is gone', async () => {
    const executor = await fm.node()
    const copy = await fm.node()
    const reader = await fm.node()
    await fm.connectAll()
    const hash = await storeRandom(executor, 2 * MiB)
    await copy.blobs.putFile(executor.blobs.pathOf(hash), { expectedHash: hash })
    await (await providersOn(copy)).announce(hash)
    const hints = new ResultHolders()
    hints.learn({ executor: executor.id, blobs: [hash] })
    await executor.service.stop()
    await executor.libp2p.stop()
    const readerDht = countDht(reader)
    const result = await (await fetcherOn(reader, hints)).fetch(hash)
    expect(result).toMatchObject({ foundBy: 'dht', byHolder: { [copy.id]: 2 * MiB } })
    expect(readerDht.finds).toBe(1)
    expect(await reader.blobs.has(hash)).toBe(true)
  })

  it('an executor that sends bad bytes is repaired from a holder the DHT knows; nothing unverified is stored', async () => {
    const executor = await fm.node()
    const copy = await fm.node()
    const reader = await fm.node()
    await fm.connectAll()
    const hash = await storeRandom(executor, 3 * MiB)
    await copy.blobs.putFile(executor.blobs.pathOf(hash), { expectedHash: hash })
    await corruptStored(executor, hash, [MiB + 9])
    await (await providersOn(copy)).announce(hash)
    const hints = new ResultHolders()
    hints.learn({ executor: executor.id, blobs: [hash] })
    const result = await (await fetcherOn(reader, hints)).fetch(hash)
    expect(result.foundBy).toBe('dht')
    expect(result.byHolder[copy.id]).toBeGreaterThan(0)
    expect(executor.service.stats().bytesServed).toBeGreaterThan(0)
    // the store verified what it adopted: a read of the whole checks it again
    await expect(reader.blobs.verify(hash)).resolves.not.toThrow()
  })

  it('a big blob is drawn from the executor and the holders the DHT knows', async () => {
    const executor = await fm.node()
    const copy = await fm.node()
    const reader = await fm.node()
    await fm.connectAll()
    const size = 8 * MiB
    const hash = await storeRandom(executor, size)
    await copy.blobs.putFile(executor.blobs.pathOf(hash), { expectedHash: hash })
    await (await providersOn(copy)).announce(hash)
    const hints = new ResultHolders()
    hints.learn({ executor: executor.id, blobs: [hash] })
    const result = await (await fetcherOn(reader, hints, { hintedOnlyBytes: 4 * MiB })).fetch(hash)
    expect(result.foundBy).toBe('result')
    expect(Object.keys(result.byHolder).sort()).toEqual([executor.id, copy.id].sort())
    expect(executor.service.stats().bytesServed + copy.service.stats().bytesServed).toBe(size)
  })

  it('without a hint, or with holders named by the caller, the DHT and the caller decide as before', async () => {
    const holder = await fm.node()
    const reader = await fm.node()
    await fm.connectAll()
    const a = await storeRandom(holder, 1000)
    const b = await storeRandom(holder, 1000)
    await (await providersOn(holder)).announce(a)
    const fetcher = await fetcherOn(reader, new ResultHolders())
    await waitFor(async () => (await fetcher.fetch(a).catch(() => undefined))?.foundBy === 'dht', { what: 'a fetch through the DHT' })
    expect(await fetcher.fetch(b, { holders: [holder.id] })).toMatchObject({ foundBy: 'caller', size: 1000 })
  })

  it('remembers the newest results only', () => {
    const hints = new ResultHolders(2)
    hints.learn({ executor: 'x', origin: 'y', blobs: ['1', '2'] })
    hints.learn({ executor: 'z', origin: 'z', blobs: ['3'] })
    expect(hints.holdersOf('1')).toEqual([])
    expect(hints.holdersOf('2')).toEqual(['x', 'y'])
    expect(hints.holdersOf('3')).toEqual(['z'])
    expect(hints.size).toBe(2)
    expect(() => new ResultHolders(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
  })
})
