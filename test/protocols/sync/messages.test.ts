import { describe, expect, it } from 'vitest'
import { encodeCbor } from '../../../protocols/codec/index.js'
import { parsePage, parseRequest } from '../../../protocols/sync/index.js'

describe('sync messages', () => {
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
