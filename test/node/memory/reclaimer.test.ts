import { getHeapStatistics } from 'node:v8'
import { afterEach, describe, expect, it } from 'vitest'
import { HeapReclaimer, fullCollection } from '../../../node/memory/index.js'
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
