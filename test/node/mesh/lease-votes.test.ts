import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MetaVoteStore } from '../../../node/mesh/lease-votes.js'
import { MetaStore } from '../../../store/meta/index.js'
import type { VoteRecord } from '../../../protocols/lease/index.js'

const record = (epoch: number, holder = 'h'): VoteRecord => ({ epoch, holder, expiresAt: 1000 + epoch, released: false })

describe('MetaVoteStore: votes group-committed in LevelDB', () => {
  let dir: string
  let meta: MetaStore
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cit-votes-'))
    meta = new MetaStore({}, { path: join(dir, 'db') })
    await meta.start()
  })
  afterEach(async () => {
    await meta.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('puts made while a synced batch is written go out together in one more batch, each synced, each resolved only after it', async () => {
    const batches: Array<{ n: number, sync: boolean | undefined }> = []
    const batch = meta.batch.bind(meta)
    meta.batch = async (ops, options) => { batches.push({ n: ops.length, sync: options?.sync }); await batch(ops, options) }
    const store = new MetaVoteStore(meta)
    const puts = Array.from({ length: 20 }, async (_, i) => await store.put(`job-${i}`, record(i + 1)))
    await Promise.all(puts)
    expect(batches.every(b => b.sync === true)).toBe(true)
    expect(batches.reduce((a, b) => a + b.n, 0)).toBe(20)
    // the first goes alone (nothing to wait for), the other 19 share the next batch
    expect(batches.length).toBe(2)
    // durable: a store reopened on the same files reads every vote back
    await meta.stop()
    meta = new MetaStore({}, { path: join(dir, 'db') })
    await meta.start()
    const again = new MetaVoteStore(meta)
    for (let i = 0; i < 20; i++) expect(await again.get(`job-${i}`)).toMatchObject({ epoch: i + 1, holder: 'h' })
  })

  it('reads back the newest record of a job, also while it waits for its batch', async () => {
    const store = new MetaVoteStore(meta)
    const first = store.put('job', record(1))
    const second = store.put('job', record(2, 'other'))
    expect(await store.get('job')).toMatchObject({ epoch: 2, holder: 'other' })
    await Promise.all([first, second])
    expect(await store.get('job')).toMatchObject({ epoch: 2, holder: 'other' })
  })

  it('a failed batch fails every put in it, and later puts still go out', async () => {
    const store = new MetaVoteStore(meta)
    const batch = meta.batch.bind(meta)
    const full = new Error('disk full')
    let fail = true
    meta.batch = async (ops, options) => { if (fail) { fail = false; throw full } await batch(ops, options) }
    await expect(store.put('a', record(1))).rejects.toBe(full)
    await store.put('b', record(1))
    expect(await store.get('a')).toBeUndefined()
    expect(await store.get('b')).toMatchObject({ epoch: 1 })
  })
})
