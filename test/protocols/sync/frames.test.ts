import { describe, expect, it } from 'vitest'
import { encodeCbor } from '../../../protocols/codec/index.js'
import { FrameReader, encodeFrame, encodeVarint, parsePage, parseRequest } from '../../../protocols/sync/index.js'

/** chunks as a stream would yield them, optionally never ending */
function source (chunks: Uint8Array[], end = true): AsyncIterable<Uint8Array> {
  return {
    async * [Symbol.asyncIterator] () {
      yield * chunks
      if (!end) await new Promise(() => {})
    }
  }
}

const never = new AbortController().signal

describe('sync frames', () => {
  it('reads frames split across chunks and several frames in one chunk', async () => {
    const big = new Uint8Array(300).fill(7)
    const bytes = new Uint8Array([...encodeFrame(big), ...encodeFrame(Uint8Array.of(1, 2)), ...encodeFrame(new Uint8Array(0))])
    const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2, 100), bytes.subarray(100)]
    const reader = new FrameReader(source(chunks))
    expect(await reader.read(1024, 1000, never)).toEqual(big)
    expect(await reader.read(1024, 1000, never)).toEqual(Uint8Array.of(1, 2))
    expect(await reader.read(1024, 1000, never)).toEqual(new Uint8Array(0))
    expect(await reader.read(1024, 1000, never)).toBeUndefined()
  })

  it('accepts Uint8ArrayList-like chunks', async () => {
    const frame = encodeFrame(Uint8Array.of(9, 9))
    const reader = new FrameReader({ async * [Symbol.asyncIterator] () { yield { subarray: () => frame } } })
    expect(await reader.read(16, 1000, never)).toEqual(Uint8Array.of(9, 9))
  })

  it('refuses a frame over the limit from its prefix alone', async () => {
    const reader = new FrameReader(source([encodeVarint(2000)], false))
    await expect(reader.read(1024, 5000, never)).rejects.toMatchObject({ code: 'ERR_TOO_LARGE' })
  })

  it('refuses an overlong prefix, a truncated frame, and a silent peer', async () => {
    await expect(new FrameReader(source([Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x01)])).read(1024, 1000, never))
      .rejects.toMatchObject({ code: 'ERR_MALFORMED' })
    await expect(new FrameReader(source([encodeFrame(new Uint8Array(10)).subarray(0, 5)])).read(1024, 1000, never))
      .rejects.toMatchObject({ code: 'ERR_MALFORMED' })
    await expect(new FrameReader(source([], false)).read(1024, 50, never)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
    const controller = new AbortController()
    const pending = new FrameReader(source([], false)).read(1024, 5000, controller.signal)
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('checks requests and pages field by field', () => {
    const bad = [
      [1, 2, 3],
      { after: 0 },
      { after: 1.5, limit: 1 },
      { after: 0, limit: 0 },
      { after: 0, limit: 10, logId: '' },
      { after: 0, limit: 10, extra: true }
    ]
    for (const value of bad) expect(() => parseRequest(encodeCbor(value), 1024)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(parseRequest(encodeCbor({ after: 5, limit: 10, logId: 'L' }), 1024)).toEqual({ after: 5, limit: 10, logId: 'L' })
    expect(() => parseRequest(new Uint8Array(2000), 1024)).toThrow(expect.objectContaining({ code: 'ERR_TOO_LARGE' }))

    const req = { logId: 'L', after: 10, limit: 2 }
    const page = (value: unknown): unknown => parsePage(encodeCbor(value), 1 << 20, req)
    expect(page({ logId: 'L', items: [Uint8Array.of(1)], next: 11, more: false })).toEqual({ logId: 'L', items: [Uint8Array.of(1)], next: 11, more: false })
    // another log id: the server restarted us from 0, so next may be below `after`
    expect(page({ logId: 'M', items: [Uint8Array.of(1)], next: 1, more: true })).toMatchObject({ logId: 'M', next: 1 })
    expect(() => page({ error: 'ERR_INTERNAL' })).toThrow(expect.objectContaining({ code: 'ERR_REMOTE', remoteCode: 'ERR_INTERNAL' }))
    const badPages = [
      { logId: 'L', items: [1], next: 11, more: false },
      { logId: 'L', items: [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)], next: 13, more: false },
      { logId: 'L', items: [Uint8Array.of(1)], next: 9, more: false },
      { logId: 'L', items: [Uint8Array.of(1)], next: 10, more: true },
      { logId: 'L', items: [], next: 10, more: true },
      { logId: 'L', items: [new Uint8Array(300 * 1024)], next: 11, more: false },
      { logId: 'L', items: [], next: 10, more: 'no' }
    ]
    for (const value of badPages) expect(() => page(value)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
  })
})
