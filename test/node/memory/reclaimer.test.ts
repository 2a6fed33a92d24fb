import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { getHeapStatistics } from 'node:v8'
import { afterEach, describe, expect, it } from 'vitest'
import { HeapReclaimer, fullCollection, mallocTrim } from '../../../node/memory/index.js'
import { silentLogger } from '../../../store/logger.js'
import { waitFor } from '../../helpers/wait.js'

const MIB = 1024 * 1024

/** a heap whose size the test sets, and a collection that shrinks it to `live` */
function fakeHeap (size: number): { heap: { size: number, live: number }, collections: () => number, reclaimer: (init?: ConstructorParameters<typeof HeapReclaimer>[1]) => HeapReclaimer } {
  const heap = { size, live: size }
  let count = 0
  const collect = (): void => { count++; heap.size = heap.live }
  return {
    heap,
    collections: () => count,
    reclaimer: init => new HeapReclaimer({ heapSize: () => heap.size, collect, logger: silentLogger }, { growthBytes: 8 * MIB, quietBytes: 2 * MIB, ...init })
  }
}

describe('HeapReclaimer', () => {
  const started: HeapReclaimer[] = []
  afterEach(() => { for (const r of started.splice(0)) r.stop() })

  it('compacts once the heap has grown and stopped growing, and not again while it stays as it is', () => {
    const { heap, collections, reclaimer } = fakeHeap(30 * MIB)
    const r = reclaimer()
    r.start()
    started.push(r)
    // a burst of work: the heap grows by more than the quiet margin between checks
    for (const size of [34, 38, 42, 46, 50]) {
      heap.size = size * MIB
      expect(r.check()).toBe(false)
    }
    heap.live = 27 * MIB
    // quiet now: one compaction, back to what is live
    expect(r.check()).toBe(true)
    expect(heap.size).toBe(27 * MIB)
    for (let i = 0; i < 5; i++) expect(r.check()).toBe(false)
    expect(collections()).toBe(1)
  })

  it('leaves a heap that grew less than the growth margin alone', () => {
    const { heap, collections, reclaimer } = fakeHeap(30 * MIB)
    const r = reclaimer()
    r.start()
    started.push(r)
    heap.size = 37 * MIB
    expect(r.check()).toBe(false)
    expect(r.check()).toBe(false)
    expect(collections()).toBe(0)
  })

  it('compacts again after more work when a compaction came in a pause while much was still live', () => {
    const { heap, collections, reclaimer } = fakeHeap(30 * MIB)
    const r = reclaimer()
    r.start()
    started.push(r)
    heap.size = 50 * MIB
    r.check()
    // a pause mid-work: compacted, with 45 MiB still live
    heap.live = 45 * MIB
    expect(r.check()).toBe(true)
    // the work goes on and ends: 6 MiB more than that compaction left, 23 above the idle heap
    heap.size = 51 * MIB
    r.check()
    heap.live = 30 * MIB
    expect(r.check()).toBe(true)
    expect(heap.size).toBe(30 * MIB)
    expect(collections()).toBe(2)
  })

  it('counts growth from a heap V8 shrank on its own, and compacts a heap that stays large once', () => {
    const { heap, collections, reclaimer } = fakeHeap(40 * MIB)
    const r = reclaimer()
    r.start()
    started.push(r)
    heap.size = 25 * MIB
    r.check()
    heap.size = 34 * MIB
    r.check()
    expect(r.check()).toBe(true)
    // live data that grew for good: after one compaction it is the baseline
    heap.live = 60 * MIB
    heap.size = 70 * MIB
    r.check()
    expect(r.check()).toBe(true)
    expect(heap.size).toBe(60 * MIB)
    for (let i = 0; i < 3; i++) expect(r.check()).toBe(false)
    // an idle daemon's slow growth, less than half the margin, is no new burst
    heap.size = 63 * MIB
    r.check()
    expect(r.check()).toBe(false)
    expect(collections()).toBe(2)
  })

  it('checks on its own timer once started', async () => {
    const { heap, collections, reclaimer } = fakeHeap(30 * MIB)
    const r = reclaimer({ checkEveryMs: 10 })
    r.start()
    r.start()
    started.push(r)
    heap.live = 30 * MIB
    heap.size = 50 * MIB
    await waitFor(() => collections() === 1, { what: 'the timer to compact the heap' })
    expect(heap.size).toBe(30 * MIB)
  })
})

/** a heap and a resident set the test sets; the collection shrinks both, the trim gives `freed` back */
function fakeProcess (heapMib: number, residentMib: number): { heap: { size: number, live: number }, rss: { size: number, freed: number }, trims: () => number, collections: () => number, reclaimer: HeapReclaimer } {
  const heap = { size: heapMib * MIB, live: heapMib * MIB }
  const rss = { size: residentMib * MIB, freed: 0 }
  let trims = 0
  let collections = 0
  const collect = (): void => { collections++; rss.size -= heap.size - heap.live; heap.size = heap.live }
  const trim = (): boolean => { trims++; rss.size -= rss.freed; const gave = rss.freed > 0; rss.freed = 0; return gave }
  const reclaimer = new HeapReclaimer({ heapSize: () => heap.size, residentSize: () => rss.size, collect, trim, logger: silentLogger }, { growthBytes: 8 * MIB, quietBytes: 2 * MIB })
  return { heap, rss, trims: () => trims, collections: () => collections, reclaimer }
}

describe('HeapReclaimer with a trim', () => {
  const running: HeapReclaimer[] = []
  afterEach(() => { for (const r of running.splice(0)) r.stop() })
  /** a fake process whose reclaimer is started (and stopped after the test) */
  const started = (heapMib: number, residentMib: number): ReturnType<typeof fakeProcess> => {
    const p = fakeProcess(heapMib, residentMib)
    p.reclaimer.start()
    running.push(p.reclaimer)
    return p
  }

  it('hands freed native memory back after each compaction', () => {
    const p = started(30, 80)
    // a transfer: the heap and its Buffers grow, the resident set with them
    p.heap.size = 50 * MIB
    p.rss.size = 120 * MIB
    p.reclaimer.check()
    // the Buffers die: what the collection frees goes back to malloc, which keeps 15 MiB of it
    p.rss.freed = 15 * MIB
    expect(p.reclaimer.check()).toBe(true)
    expect(p.collections()).toBe(1)
    expect(p.trims()).toBe(1)
    expect(p.rss.size).toBe(85 * MIB)
    // nothing new: neither again
    for (let i = 0; i < 3; i++) p.reclaimer.check()
    expect(p.collections()).toBe(1)
    expect(p.trims()).toBe(1)
  })

  it('trims a resident set that grew and settled while the heap did not (native work: a log, a socket\'s reads)', () => {
    const p = started(30, 80)
    p.rss.size = 95 * MIB
    expect(p.reclaimer.check()).toBe(false)
    expect(p.trims()).toBe(0)
    // settled: one trim, and the heap is left alone
    p.rss.freed = 12 * MIB
    p.reclaimer.check()
    expect(p.trims()).toBe(1)
    expect(p.collections()).toBe(0)
    expect(p.rss.size).toBe(83 * MIB)
    // slow growth after that, under half the margin, is no new burst
    p.rss.size = 86 * MIB
    p.reclaimer.check()
    p.reclaimer.check()
    expect(p.trims()).toBe(1)
  })

  it('does not trim while the resident set keeps growing (the work is not over)', () => {
    const p = started(30, 80)
    for (const size of [90, 100, 110, 120]) {
      p.rss.size = size * MIB
      p.reclaimer.check()
    }
    expect(p.trims()).toBe(0)
  })
})

describe('mallocTrim', () => {
  const glibc = process.platform === 'linux' && (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime != null

  it('is built and loads where the C library is glibc (npm ci builds it)', () => {
    if (!glibc) {
      expect(mallocTrim()).toBeNull()
      return
    }
    expect(mallocTrim()).toBeTypeOf('function')
  })

  it('gives back the pages of Buffers freed in the middle of malloc\'s heap, which free() keeps', () => {
    if (!glibc) return
    // in a process of its own, so that the figures are that process's alone
    const script = `
      import { readFileSync } from 'node:fs'
      import { mallocTrim } from ${JSON.stringify(pathToFileURL(resolve(import.meta.dirname, '../../../dist/node/memory/trim.js')).href)}
      const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024
      // 64 KiB blocks come from malloc's heap (below its mmap threshold); the last one kept stays above them
      let blocks = []
      for (let i = 0; i < 480; i++) blocks.push(Buffer.alloc(65536, i))
      const kept = Buffer.alloc(65536, 1)
      blocks = []
      // V8 frees the blocks' backing stores on a task of its own after the collection: until they are gone
      for (let i = 0; i < 200 && process.memoryUsage().arrayBuffers > 8 * 1024 * 1024; i++) {
        globalThis.gc()
        await new Promise(r => setImmediate(r))
      }
      const before = anon()
      const gave = mallocTrim()()
      process.stdout.write(JSON.stringify({ before, after: anon(), gave, kept: kept.length }))
    `
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, MALLOC_ARENA_MAX: '2' } })
    const { before, after, gave } = JSON.parse(out) as { before: number, after: number, gave: boolean }
    expect(gave).toBe(true)
    // 30 MiB were freed; free() kept most of it resident and the trim hands it back
    expect(before - after).toBeGreaterThan(16 * MIB)
  })
})

describe('fullCollection', () => {
  it('gives the committed pages of a fragmented old generation back', () => {
    const collect = fullCollection()
    expect(collect).toBeTypeOf('function')
    // objects that live long enough to reach the old generation, one in twenty kept: every page keeps a survivor
    const live: object[] = []
    let batch: object[] = []
    for (let i = 0; i < 1_500_000; i++) {
      const o = { a: `x${i}`, b: [i] }
      batch.push(o)
      if (i % 20 === 0) live.push(o)
      if (batch.length > 300_000) batch = []
    }
    batch = []
    const before = getHeapStatistics().total_heap_size
    collect!()
    const after = getHeapStatistics().total_heap_size
    expect(live.length).toBe(75_000)
    // some 100 MiB of garbage over pages that each keep a survivor: a collection that does not compact gives back ~15
    expect(before - after).toBeGreaterThan(50 * MIB)
  })

  it('frees the native memory of Buffers nothing holds any more', async () => {
    const collect = fullCollection()!
    let held: Buffer[] = []
    for (let i = 0; i < 48; i++) held.push(Buffer.alloc(MIB, i))
    // long enough on the heap to be in the old generation, where only a full collection finds them dead
    collect()
    held = []
    const before = process.memoryUsage().arrayBuffers
    collect()
    expect(held.length).toBe(0)
    // V8 frees the backing stores on a task of its own right after the collection
    await waitFor(() => before - process.memoryUsage().arrayBuffers > 40 * MIB, { what: 'the Buffers\' memory to be freed' })
  })
})
