import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { OrderedHash } from '../../../node/artefacts/ordered-hash.js'

const RANGE = 1000

/** a part file in memory: what is written, how much of each range, and how many bytes were read back */
function partFile (size: number): { file: Buffer, written: Map<number, number>, reads: { bytes: number }, hasher: OrderedHash } {
  const file = Buffer.alloc(size)
  const written = new Map<number, number>()
  const reads = { bytes: 0 }
  const hasher = new OrderedHash({
    read: async (buf, position, length) => {
      await new Promise(resolve => setImmediate(resolve))
      file.copy(buf, 0, position, position + length)
      reads.bytes += length
      return length
    }
  }, size, RANGE, start => written.get(start) ?? 0)
  return { file, written, reads, hasher }
}

describe('OrderedHash', () => {
  it('hashes in order from memory when bytes come in order, without reading anything back', async () => {
    const data = randomBytes(3500)
    const { file, written, reads, hasher } = partFile(data.byteLength)
    for (let off = 0; off < data.byteLength; off += 250) {
      const chunk = data.subarray(off, off + 250)
      chunk.copy(file, off)
      const start = off - (off % RANGE)
      written.set(start, off + chunk.byteLength - start)
      hasher.feed(off, chunk)
    }
    await hasher.catchUp()
    expect(hasher.digest()).toBe(createHash('sha256').update(data).digest('hex'))
    expect(reads.bytes).toBe(0)
  })

  it('reads back what came ahead of the frontier, and takes back a range that failed half-way', async () => {
    const data = randomBytes(3000)
    const wrong = randomBytes(1000)
    const { file, written, hasher } = partFile(data.byteLength)
    const put = (off: number, bytes: Buffer): void => {
      bytes.copy(file, off)
      const start = off - (off % RANGE)
      written.set(start, Math.max(written.get(start) ?? 0, off + bytes.byteLength - start))
      hasher.feed(off, bytes)
    }
    // range 1 arrives whole before range 0
    put(1000, data.subarray(1000, 2000))
    // range 0: a liar's first half, then the range fails
    put(0, wrong.subarray(0, 500))
    expect(hasher.hashed).toBe(500)
    hasher.failed(0)
    written.set(0, 0)
    expect(hasher.hashed).toBe(0)
    // range 0 again from an honest holder, then range 2
    put(0, data.subarray(0, 1000))
    await hasher.catchUp()
    expect(hasher.hashed).toBe(2000)
    put(2000, data.subarray(2000))
    await hasher.catchUp()
    expect(hasher.digest()).toBe(createHash('sha256').update(data).digest('hex'))
  })

  it('has no digest until every byte is hashed', async () => {
    const { hasher, written } = partFile(2500)
    written.set(0, RANGE)
    await hasher.catchUp()
    expect(hasher.hashed).toBe(RANGE)
    expect(hasher.digest()).toBeUndefined()
  })
})
