/**
 * The virtual time the lease model and the mesh simulator run on: callbacks in time order, then in
 * the order they were scheduled, cancelled ones skipped, clocks with offsets and rates, and
 * promise chains settled between callbacks (after each one, or once per instant when batched).
 */
import { describe, expect, it } from 'vitest'
import { VirtualTime } from '../../../protocols/lease/index.js'

describe('VirtualTime', () => {
  for (const batched of [false, true]) {
    it(`runs callbacks by time, then by scheduling order, skipping cancelled ones (batched: ${batched})`, async () => {
      const vt = new VirtualTime()
      const seen: string[] = []
      // scheduled out of order, many at one instant: the heap must still yield time, then insertion order
      const times = [50, 10, 30, 10, 0, 30, 10, 70, 20, 10]
      times.forEach((t, i) => vt.after(t, () => { seen.push(`${t}:${i}`) }))
      const gone = vt.after(15, () => { seen.push('cancelled') })
      gone.cancelled = true
      await vt.run(60, { batched })
      expect(seen).toEqual(['0:4', '10:1', '10:3', '10:6', '10:9', '20:8', '30:2', '30:5', '50:0'])
      expect(vt.t).toBe(60)
      await vt.run(100, { batched })
      expect(seen.at(-1)).toBe('70:7')
    })

    it(`lets promise chains a callback starts finish before time moves on (batched: ${batched})`, async () => {
      const vt = new VirtualTime()
      const log: string[] = []
      vt.after(10, () => {
        void (async () => {
          for (let i = 0; i < 20; i++) await Promise.resolve()
          log.push(`chain done at ${vt.t}`)
          vt.after(0, () => { log.push(`follow-up at ${vt.t}`) })
        })()
      })
      vt.after(11, () => { log.push(`next at ${vt.t}`) })
      await vt.run(100, { batched })
      expect(log).toEqual(['chain done at 10', 'follow-up at 10', 'next at 11'])
    })
  }

  it('stops when asked, asking once, and leaves the clock where it stopped', async () => {
    const vt = new VirtualTime()
    let n = 0
    for (let i = 1; i <= 10; i++) vt.after(i * 10, () => { n++ })
    let asked = 0
    // a stop condition that answers true only once (the simulator's throttled check does)
    await vt.run(1000, { batched: true, stop: () => ++asked === 4 })
    expect(n).toBe(3)
    expect(vt.t).toBe(30)
  })

  it('gives each node a clock with its offset and rate, whose timers run in that clock\'s time', async () => {
    const vt = new VirtualTime()
    const fast = vt.clock(1000, 2)
    expect(fast.now()).toBe(1000)
    let at = -1
    fast.setTimeout(() => { at = vt.t }, 100)
    const h = fast.setTimeout(() => { at = -2 }, 150)
    fast.clearTimeout(h)
    await vt.run(1000)
    expect(at).toBe(50)
    expect(fast.now()).toBe(3000)
  })
})
