import { describe, expect, it } from 'vitest'
import { LiveOutput } from '../../../node/jobs/live-output.js'

/** what a late subscriber is given, chunk by chunk */
function replay (live: LiveOutput): Uint8Array[] {
  const seen: Uint8Array[] = []
  live.subscribe({ data: c => { seen.push(c) }, end: () => {} })()
  return seen
}

describe('LiveOutput', () => {
  it('keeps consecutive views of one buffer as one chunk, and gives subscribers every chunk as it comes', () => {
    const live = new LiveOutput(1000)
    const seen: string[] = []
    live.subscribe({ data: c => { seen.push(Buffer.from(c).toString()) }, end: () => {} })
    const slab = Buffer.from('abcdefghij')
    live.push(slab.subarray(0, 3))
    live.push(slab.subarray(3, 5))
    live.push(Buffer.from('XY'))
    live.push(slab.subarray(5, 7))
    // not adjacent to the last one: a chunk of its own
    live.push(slab.subarray(8, 10))
    expect(seen).toEqual(['abc', 'de', 'XY', 'fg', 'ij'])
    expect(replay(live).map(c => Buffer.from(c).toString())).toEqual(['abcde', 'XY', 'fg', 'ij'])
  })

  it('drops the oldest chunks past its size, counting what it dropped', () => {
    const live = new LiveOutput(10)
    const slab = Buffer.from('0123456789')
    live.push(slab.subarray(0, 4))
    live.push(slab.subarray(4, 8))
    live.push(Buffer.from('abcd'))
    live.push(Buffer.from('efgh'))
    expect(Buffer.concat(replay(live)).toString()).toBe('abcdefgh')
    expect(live.droppedBytes).toBe(8)
  })
})
