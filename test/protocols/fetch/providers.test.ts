import { afterEach, describe, expect, it } from 'vitest'
import { Fetcher } from '../../../node/artefacts/index.js'
import { cidOfHash, Providers } from '../../../protocols/fetch/index.js'
import { connected } from '../net/helpers.js'
import { FetchMesh, MiB, storeRandom } from './helpers.js'
import type { FetchNode } from './helpers.js'
import type { Logger } from '../../../store/logger.js'
import { waitFor } from '../../helpers/wait.js'

describe('Providers', () => {
  const fm = new FetchMesh()
  const services: Array<{ stop: () => Promise<void> }> = []
  afterEach(async () => {
    await Promise.all(services.splice(0).map(async s => { await s.stop() }))
    await fm.stop()
  })

  function providersOf (node: FetchNode, init = {}, logger?: Logger): Providers {
    const p = new Providers({ libp2p: node.libp2p, blobs: node.blobs, logger }, init)
    services.push(p)
    return p
  }

  /** a started Providers whose first round (over what the node held then) has finished */
  async function started (node: FetchNode, init = {}): Promise<Providers> {
    const said: string[] = []
    const log = (msg: string): void => { said.push(msg) }
    const p = providersOf(node, init, { debug: log, info: log, warn: log, error: log })
    await p.start()
    await waitFor(() => said.includes('announced held blobs'), { what: 'the first round' })
    return p
  }

  /** three nodes in a line (a–b–c, bootstrapped that way): c learns of a's records through the DHT */
  async function line (): Promise<FetchNode[]> {
    const a = await fm.node()
    const b = await fm.node({ bootstrap: [a.libp2p.getMultiaddrs()[0].toString()] })
    const c = await fm.node({ bootstrap: [b.libp2p.getMultiaddrs()[0].toString()] })
    await waitFor(() => connected(a.libp2p, b.libp2p) && connected(b.libp2p, c.libp2p), { what: 'the line to connect' })
    return [a, b, c]
  }

  it('names blobs by CIDv1 raw sha2-256', () => {
    const hash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    // what `ipfs add --raw-leaves --cid-version 1` names the empty file
    expect(cidOfHash(hash).toString()).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
    expect(cidOfHash(`sha256:${hash.toUpperCase()}`).equals(cidOfHash(hash))).toBe(true)
    expect(() => cidOfHash('abc')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_HASH' }))
  })

  it('finds the holders of a blob across three nodes, never itself', async () => {
    const [a, b, c] = await line()
    const hash = await storeRandom(a, 1000)
    await c.blobs.putFile(a.blobs.pathOf(hash), { expectedHash: hash })
    // a announces everything it holds on start; c announces the one blob it just stored
    const pa = providersOf(a)
    await pa.start()
    await providersOf(c).announce(hash)
    const pb = providersOf(b)
    await waitFor(async () => (await pb.findHolders(hash)).length === 2, { what: 'b to find both holders' })
    expect((await pb.findHolders(hash)).sort()).toEqual([a.id, c.id].sort())
    // a holder looking finds the other one, not itself
    expect(await providersOf(c).findHolders(hash)).toEqual([a.id])
    expect(await pb.findHolders('00'.repeat(32))).toEqual([])
  })

  it('feeds a fetch from the holders it finds', async () => {
    const [a, b, c] = await line()
    const hash = await storeRandom(a, 5 * MiB)
    await providersOf(a).announce(hash)
    const pc = providersOf(c)
    await waitFor(async () => (await pc.findHolders(hash)).length === 1, { what: 'c to find a' })
    const fetcher = new Fetcher({ libp2p: c.libp2p, blobs: c.blobs, findHolders: async (h, o) => await pc.findHolders(h, o) }, { dir: c.dir, rangeBytes: MiB })
    services.push(fetcher)
    await fetcher.start()
    const result = await fetcher.fetch(hash)
    expect(result).toMatchObject({ size: 5 * MiB, byHolder: { [a.id]: 5 * MiB } })
    expect(await c.blobs.has(hash)).toBe(true)
    expect(b.service.stats().bytesServed).toBe(0)
  })

  it('announces again on its interval', async () => {
    const [a, b] = await line()
    const hash = await storeRandom(a, 100)
    const pa = providersOf(a, { reannounceIntervalMs: 200 })
    let rounds = 0
    const dht = a.libp2p.services.dht
    const provide = dht.provide.bind(dht)
    dht.provide = (...args) => { rounds++; return provide(...args) }
    await pa.start()
    await waitFor(() => rounds >= 3, { what: 'three announcement rounds' })
    await pa.stop()
    expect(await providersOf(b).findHolders(hash)).toEqual([a.id])
  })

  it('a round announces only what is due: not the blobs announced when stored, and a retry only the failed', async () => {
    const [a] = await line()
    const stored = await storeRandom(a, 100)
    const failing = await storeRandom(a, 100)
    const untouched = await storeRandom(a, 100)
    const pa = providersOf(a)
    const asked: string[] = []
    const dht = a.libp2p.services.dht
    const provide = dht.provide.bind(dht)
    let refuse = true
    dht.provide = (cid, ...rest) => {
      asked.push(cid.toString())
      if (refuse && cid.equals(cidOfHash(failing))) throw new Error('refused by the test')
      return provide(cid, ...rest)
    }
    // announced as it was stored (what the exchange does)
    await pa.announce(stored)
    asked.length = 0
    // the first round: every blob except the one just announced; one fails
    expect(await pa.announceAll()).toEqual({ announced: 1, failed: 1, skipped: 1 })
    expect(asked.sort()).toEqual([cidOfHash(failing).toString(), cidOfHash(untouched).toString()].sort())
    // the retry: only the one that failed
    refuse = false
    asked.length = 0
    expect(await pa.announceAll()).toEqual({ announced: 1, failed: 0, skipped: 2 })
    expect(asked).toEqual([cidOfHash(failing).toString()])
  })

  it('announceSoon sends nothing at once, then one batch once quiet: each queued blob once, none announced already, none withdrawn', async () => {
    const [a, b] = await line()
    // no other round in this test; the batch waits for the test's flush
    const pa = await started(a, { reannounceIntervalMs: 3_600_000, quietMs: 3_600_000, batchMaxWaitMs: 3_600_000 })
    const [h1, h2, h3, gone] = [await storeRandom(a, 100), await storeRandom(a, 100), await storeRandom(a, 100), await storeRandom(a, 100)]
    const asked: string[] = []
    const dht = a.libp2p.services.dht
    const provide = dht.provide.bind(dht)
    dht.provide = (cid, ...rest) => { asked.push(cid.toString()); return provide(cid, ...rest) }
    await pa.announce(h3)
    asked.length = 0
    // a job's results, another job's with one blob again, a blob announced already, one removed before the batch
    pa.announceSoon([h1, h2])
    pa.announceSoon([h2, h3, gone])
    await pa.withdraw(gone)
    expect(asked).toEqual([])
    expect(pa.stats()).toMatchObject({ pending: 2, batches: 0 })
    expect(await pa.flush()).toEqual({ announced: 2, failed: 0, skipped: 0 })
    expect(asked.sort()).toEqual([cidOfHash(h1).toString(), cidOfHash(h2).toString()].sort())
    expect(pa.stats()).toMatchObject({ provides: 3, pending: 0, batches: 1 })
    const pb = providersOf(b)
    expect(await pb.findHolders(h1)).toEqual([a.id])
    expect(await pb.findHolders(h2)).toEqual([a.id])
    expect(await pb.findHolders(gone)).toEqual([])
    // announced now: queueing them again announces nothing
    pa.announceSoon([h1, h2])
    expect(pa.stats().pending).toBe(0)
  })

  it('a batch goes out on its own once quiet, and one queued while the node never goes quiet goes out at the latest after batchMaxWaitMs', async () => {
    const [a] = await line()
    const quiet = await started(a, { reannounceIntervalMs: 3_600_000, quietMs: 50 })
    quiet.announceSoon([await storeRandom(a, 100)])
    await waitFor(() => quiet.stats().batches === 1 && quiet.stats().pending === 0, { what: 'the batch after a quiet spell' })
    expect(quiet.stats().provides).toBe(1)
    await quiet.stop()
    const busy = await started(a, { reannounceIntervalMs: 3_600_000, quietMs: 3_600_000, batchMaxWaitMs: 100 })
    const before = busy.stats().provides
    const more = [await storeRandom(a, 100), await storeRandom(a, 100)]
    busy.announceSoon([more[0]])
    busy.announceSoon([more[1]])
    await waitFor(() => busy.stats().batches === 1 && busy.stats().pending === 0, { what: 'the batch at its latest' })
    expect(busy.stats().provides - before).toBe(2)
  })

  it('a batch put off while alone waits its retry interval, even once the oldest blob is past batchMaxWaitMs', async () => {
    const a = await fm.node()
    const said: string[] = []
    const log = (msg: string): void => { said.push(msg) }
    const p = providersOf(a, { reannounceIntervalMs: 3_600_000, retryIntervalMs: 60_000, quietMs: 20, batchMaxWaitMs: 50 }, { debug: log, info: log, warn: log, error: log })
    await p.start()
    p.announceSoon([await storeRandom(a, 100)])
    const putOff = (): number => said.filter(m => m === 'no connections: announcing the batch later').length
    // the quiet spell ends, nobody is connected: put off for the retry interval, not re-armed at once over and over
    await waitFor(() => putOff() >= 1, { what: 'the batch to be put off' })
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(putOff()).toBe(1)
    expect(p.stats()).toMatchObject({ batches: 0, pending: 1 })
  })

  it('puts a round off while alone and announces once a peer is connected', async () => {
    const a = await fm.node()
    const hash = await storeRandom(a, 100)
    const said: string[] = []
    const log = (msg: string): void => { said.push(msg) }
    const pa = providersOf(a, { retryIntervalMs: 100 }, { debug: log, info: log, warn: log, error: log })
    let provides = 0
    const dht = a.libp2p.services.dht
    const provide = dht.provide.bind(dht)
    dht.provide = (...args) => { provides++; return provide(...args) }
    await pa.start()
    await waitFor(() => said.includes('no connections: announcing held blobs later'), { what: 'a round to be put off' })
    // nothing was announced into the void
    expect(provides).toBe(0)
    const b = await fm.node({ bootstrap: [a.libp2p.getMultiaddrs()[0].toString()] })
    await waitFor(() => connected(a.libp2p, b.libp2p), { what: 'b to connect' })
    await waitFor(async () => (await providersOf(b).findHolders(hash)).length === 1, { what: 'b to find a' })
    expect(provides).toBeGreaterThan(0)
  })
})
