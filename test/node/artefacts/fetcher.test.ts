import { createHash } from 'node:crypto'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Fetcher } from '../../../node/artefacts/index.js'
import { FetchMesh, MiB, corruptStored, randomSource, sha256, storeRandom } from '../../protocols/fetch/helpers.js'
import type { FetcherInit } from '../../../node/artefacts/index.js'
import type { FetchNode } from '../../protocols/fetch/helpers.js'

/** sha256 of a stored blob, read back through the store (a whole read is verified too) */
async function storedHash (node: FetchNode, hash: string): Promise<string> {
  const sha = createHash('sha256')
  for await (const chunk of node.blobs.get(hash)) sha.update(chunk)
  return sha.digest('hex')
}

/** copy `hash` from `from` into each of `to` (as if they had fetched it earlier) */
async function replicate (from: FetchNode, hash: string, to: FetchNode[]): Promise<void> {
  for (const node of to) await node.blobs.putFile(from.blobs.pathOf(hash), { expectedHash: hash })
}

describe('Fetcher', () => {
  const fm = new FetchMesh()
  const fetchers: Fetcher[] = []
  afterEach(async () => {
    await Promise.all(fetchers.splice(0).map(async f => { await f.stop() }))
    await fm.stop()
  })

  async function fetcherOn (node: FetchNode, init: Partial<FetcherInit> = {}): Promise<Fetcher> {
    const fetcher = new Fetcher({ libp2p: node.libp2p, blobs: node.blobs }, { dir: node.dir, ...init })
    await fetcher.start()
    fetchers.push(fetcher)
    return fetcher
  }

  it('fetches a small blob from one holder, then finds it local', async () => {
    const holder = await fm.node()
    const me = await fm.node()
    await fm.connectAll()
    const hash = await storeRandom(holder, 100_000)
    const fetcher = await fetcherOn(me)
    const progress: Array<[number, number]> = []
    const result = await fetcher.fetch(hash, { holders: [holder.id], onProgress: (d, t) => progress.push([d, t]) })
    expect(result).toMatchObject({ hash, size: 100_000, local: false, bytesFetched: 100_000, resumedBytes: 0, badHolders: [] })
    expect(await storedHash(me, hash)).toBe(hash)
    expect(progress.at(-1)).toEqual([100_000, 100_000])
    // nothing left behind in the partial dir
    expect(await readdir(join(me.dir, 'partial'))).toEqual([])
    expect(await fetcher.fetch(hash, { holders: [holder.id] })).toMatchObject({ local: true, bytesFetched: 0 })
    expect(holder.service.stats().bytesServed).toBe(100_000)

    // the empty blob has no ranges at all, and is still verified and stored
    const empty = (await holder.blobs.put([])).hash
    expect(await fetcher.fetch(empty, { holders: [holder.id] })).toMatchObject({ size: 0, local: false, bytesFetched: 0 })
    expect(await me.blobs.has(empty)).toBe(true)
  })

  it('fetches a 200 MiB blob from one holder with bounded memory', async () => {
    const holder = await fm.node()
    const me = await fm.node()
    await fm.connectAll()
    const size = 200 * MiB
    const { source, digest } = randomSource(size)
    const { hash } = await holder.blobs.put(source)
    expect(hash).toBe(digest())
    const fetcher = await fetcherOn(me)

    const before = process.memoryUsage.rss()
    let peak = before
    const sample = (): void => { peak = Math.max(peak, process.memoryUsage.rss()) }
    const timer = setInterval(sample, 10)
    const t0 = performance.now()
    let transferredAt = 0
    const result = await fetcher.fetch(hash, {
      holders: [holder.id],
      onProgress: (done, total) => {
        sample()
        if (transferredAt === 0 && done === total) transferredAt = performance.now()
      }
    }).finally(() => { clearInterval(timer) })
    const totalMs = performance.now() - t0
    const transferMs = transferredAt - t0
    expect(result.bytesFetched).toBe(size)
    expect(await storedHash(me, hash)).toBe(hash)
    const growthMiB = (peak - before) / MiB
    const rate = (ms: number): string => (size / 1e6 / (ms / 1000)).toFixed(0)
    console.log(`200 MiB fetch: transfer ${transferMs.toFixed(0)} ms (${rate(transferMs)} MB/s), end to end with verify and store ${totalMs.toFixed(0)} ms (${rate(totalMs)} MB/s), peak RSS growth ${growthMiB.toFixed(1)} MiB`)
    // a memory bound, not a timing: far below the blob's size
    expect(growthMiB).toBeLessThan(100)
  }, 120_000)

  it('draws from three holders at once', async () => {
    const holders = [await fm.node(), await fm.node(), await fm.node()]
    const me = await fm.node()
    await fm.connectAll()
    const size = 24 * MiB + 12345
    const hash = await storeRandom(holders[0], size)
    await replicate(holders[0], hash, holders.slice(1))
    const fetcher = await fetcherOn(me, { rangeBytes: MiB })
    const result = await fetcher.fetch(hash, { holders: holders.map(h => h.id) })
    expect(await storedHash(me, hash)).toBe(hash)
    const served = holders.map(h => h.service.stats().bytesServed)
    // every holder served a share, and together exactly the blob: no range twice
    for (const bytes of served) expect(bytes).toBeGreaterThan(0)
    expect(served.reduce((a, b) => a + b, 0)).toBe(size)
    expect(Object.keys(result.byHolder).sort()).toEqual(holders.map(h => h.id).sort())
    expect(result.badHolders).toEqual([])
  })

  it('finds a holder whose copy is corrupt and completes from the others', async () => {
    const holders = [await fm.node(), await fm.node(), await fm.node()]
    const me = await fm.node()
    await fm.connectAll()
    const size = 12 * MiB
    const hash = await storeRandom(holders[0], size)
    await replicate(holders[0], hash, holders.slice(1))
    const bad = holders[1]
    // a flipped byte in every range, so whichever ranges the bad holder is given are wrong
    await corruptStored(bad, hash, Array.from({ length: 12 }, (_, i) => i * MiB + 777))
    const fetcher = await fetcherOn(me, { rangeBytes: MiB })
    const result = await fetcher.fetch(hash, { holders: holders.map(h => h.id) })
    expect(await storedHash(me, hash)).toBe(hash)
    expect(bad.service.stats().bytesServed).toBeGreaterThan(0)
    expect(result.badHolders).toEqual([bad.id])
  })

  it('refuses to store a download that no second holder can repair', async () => {
    const holder = await fm.node()
    const me = await fm.node()
    await fm.connectAll()
    const hash = await storeRandom(holder, 3 * MiB)
    await corruptStored(holder, hash, [MiB + 5])
    const fetcher = await fetcherOn(me, { rangeBytes: MiB })
    await expect(fetcher.fetch(hash, { holders: [holder.id] })).rejects.toMatchObject({ code: 'ERR_HASH_MISMATCH', suspects: [holder.id] })
    expect(await me.blobs.has(hash)).toBe(false)
  })

  it('resumes an interrupted download, fetching only the rest', async () => {
    const holder = await fm.node()
    const me = await fm.node()
    await fm.connectAll()
    const size = 32 * MiB
    const hash = await storeRandom(holder, size)
    const init = { rangeBytes: MiB, maxParallel: 2 }
    const first = await fetcherOn(me, init)
    const stop = new AbortController()
    await expect(first.fetch(hash, {
      holders: [holder.id],
      onProgress: (done) => { if (done >= size / 2) stop.abort(new Error('interrupted')) },
      signal: stop.signal
    })).rejects.toThrow('interrupted')
    await first.stop()
    const servedBefore = holder.service.stats().bytesServed
    expect(servedBefore).toBeLessThan(size)
    expect(await me.blobs.has(hash)).toBe(false)
    const partial = await stat(join(me.dir, 'partial', `${hash}.json`))
    expect(partial.isFile()).toBe(true)
    // no range was hashed on its own while it arrived: the record names holders only ...
    const recordPath = join(me.dir, 'partial', `${hash}.json`)
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as { done: Array<[number, string, string?]> }
    expect(record.done.length).toBeGreaterThan(0)
    expect(record.done.every(e => e.length === 2)).toBe(true)
    // ... and a record that does carry range hashes (as a repair round writes it) resumes the same
    const part = await readFile(join(me.dir, 'partial', `${hash}.part`))
    record.done = record.done.map(([i, holder]) => [i, holder, sha256(part.subarray(i * MiB, (i + 1) * MiB))])
    await writeFile(recordPath, JSON.stringify(record))

    // a new fetcher, as after a restart: what it knows comes from the partial files
    const second = await fetcherOn(me, init)
    const result = await second.fetch(hash, { holders: [holder.id] })
    expect(await storedHash(me, hash)).toBe(hash)
    const servedAfter = holder.service.stats().bytesServed - servedBefore
    expect(result.resumedBytes).toBeGreaterThanOrEqual(size / 2 - 2 * MiB)
    expect(result.bytesFetched).toBe(size - result.resumedBytes)
    expect(servedAfter).toBe(result.bytesFetched)
    expect(servedAfter).toBeLessThanOrEqual(size / 2 + 2 * MiB)
  })

  it('reports holders that refuse a peer without the read role', async () => {
    const holder = await fm.node()
    const me = await fm.node()
    await fm.connectAll()
    const hash = await storeRandom(holder, 1000)
    fm.noRead.add(me.id)
    const fetcher = await fetcherOn(me)
    await expect(fetcher.fetch(hash, { holders: [holder.id] })).rejects.toMatchObject({
      code: 'ERR_NO_HOLDERS',
      failures: { [holder.id]: 'ERR_NOT_ALLOWED' }
    })
    expect(holder.service.stats()).toMatchObject({ refused: 1, bytesServed: 0 })
    expect(await me.blobs.has(hash)).toBe(false)
  })

  it('uses the holders that have the blob and skips those that do not', async () => {
    const has = await fm.node()
    const hasNot = await fm.node()
    const me = await fm.node()
    await fm.connectAll()
    const hash = await storeRandom(has, 3 * MiB)
    const fetcher = await fetcherOn(me, { rangeBytes: MiB })
    const result = await fetcher.fetch(hash, { holders: [hasNot.id, has.id] })
    expect(result.byHolder).toEqual({ [has.id]: 3 * MiB })
    await expect(fetcher.fetch('ab'.repeat(32), { holders: [hasNot.id] })).rejects.toMatchObject({
      code: 'ERR_NO_HOLDERS', failures: { [hasNot.id]: 'ERR_NOT_FOUND' }
    })
    await expect(fetcher.fetch('not a hash', { holders: [has.id] })).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
    await expect(fetcher.fetch('ab'.repeat(32), { holders: [] })).rejects.toMatchObject({ code: 'ERR_NO_HOLDERS' })
  })

  it('stop() cancels a download in flight and keeps its progress', async () => {
    const holder = await fm.node()
    const me = await fm.node()
    await fm.connectAll()
    const size = 16 * MiB
    const hash = await storeRandom(holder, size)
    const fetcher = await fetcherOn(me, { rangeBytes: MiB, maxParallel: 1 })
    let stopping: Promise<void> | undefined
    const p = fetcher.fetch(hash, { holders: [holder.id], onProgress: (done) => { if (done >= 4 * MiB) stopping ??= fetcher.stop() } })
    await expect(p).rejects.toMatchObject({ code: 'ERR_STOPPED' })
    await stopping
    await expect(fetcher.fetch(hash, { holders: [holder.id] })).rejects.toMatchObject({ code: 'ERR_STOPPED' })
    const again = await fetcherOn(me, { rangeBytes: MiB })
    expect((await again.fetch(hash, { holders: [holder.id] })).resumedBytes).toBeGreaterThanOrEqual(3 * MiB)
  })
})
