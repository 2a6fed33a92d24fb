import { afterEach, describe, expect, it } from 'vitest'
import { encodeCbor } from '../../../protocols/codec/index.js'
import {
  encodeCredit, encodeRequest, FETCH_PROTOCOL, fetchRange, parseHeader
} from '../../../protocols/fetch/index.js'
import { encodeFrame, encodeVarint } from '../../../protocols/sync/index.js'

import { FetchMesh, MiB, sha256, storeRandom } from './helpers.js'
import type { Stream } from '@libp2p/interface'
import { waitFor } from '../../helpers/wait.js'

/** everything a stream yields until it ends or is reset */
async function readAll (stream: Stream): Promise<{ bytes: Uint8Array, reset: boolean }> {
  const parts: Uint8Array[] = []
  let reset = false
  try {
    for await (const chunk of stream) parts.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
  } catch {
    reset = true
  }
  reset ||= stream.status === 'reset' || stream.status === 'aborted'
  return { bytes: Buffer.concat(parts), reset }
}

/** split a reply into its header frame and the raw bytes after it */
function splitReply (bytes: Uint8Array): { header: Uint8Array, rest: Uint8Array } {
  let length = 0
  let i = 0
  for (; ; i++) {
    length += (bytes[i] & 0x7f) * 2 ** (7 * i)
    if ((bytes[i] & 0x80) === 0) break
  }
  return { header: bytes.subarray(i + 1, i + 1 + length), rest: bytes.subarray(i + 1 + length) }
}

/** a sink that keeps what it is given */
function collector (): { sink: (c: Uint8Array) => void, bytes: () => Uint8Array } {
  const parts: Uint8Array[] = []
  return { sink: (c) => { parts.push(Uint8Array.from(c)) }, bytes: () => Buffer.concat(parts) }
}

describe('fetch protocol', () => {
  const fm = new FetchMesh()
  afterEach(async () => { await fm.stop() })

  async function pair (init = {}): Promise<Awaited<ReturnType<FetchMesh['node']>>[]> {
    const a = await fm.node({ init })
    const b = await fm.node()
    await fm.connectAll()
    return [a, b]
  }

  it('fetches a whole blob, a range and a header-only probe', async () => {
    const [a, b] = await pair()
    const size = 3 * MiB + 17
    const hash = await storeRandom(a, size)
    const whole = collector()
    expect(await fetchRange(b.libp2p, a.id, hash, 0, undefined, whole.sink)).toEqual({ size, bytes: size })
    expect(sha256(whole.bytes())).toBe(hash)

    const part = collector()
    expect(await fetchRange(b.libp2p, a.libp2p.peerId, `sha256:${hash.toUpperCase()}`, MiB, 2 * MiB + 5, part.sink)).toEqual({ size, bytes: MiB + 5 })
    expect(Buffer.compare(part.bytes(), whole.bytes().subarray(MiB, 2 * MiB + 5))).toBe(0)

    const probe = collector()
    expect(await fetchRange(b.libp2p, a.id, hash, 0, 0, probe.sink)).toEqual({ size, bytes: 0 })
    expect(probe.bytes().byteLength).toBe(0)
    // the holder counts a request served once its side is closed, just after the client has the bytes
    await waitFor(() => a.service.stats().served === 3, { what: 'three requests served' })
    expect(a.service.stats()).toMatchObject({ bytesServed: size + MiB + 5, errors: {} })
  })

  it('answers a peer without the read role with ERR_NOT_ALLOWED and nothing else', async () => {
    const [a, b] = await pair()
    const hash = await storeRandom(a, 4096)
    fm.noRead.add(b.id)
    const got = collector()
    await expect(fetchRange(b.libp2p, a.id, hash, 0, undefined, got.sink)).rejects.toMatchObject({ code: 'ERR_REMOTE', remoteCode: 'ERR_NOT_ALLOWED' })
    expect(got.bytes().byteLength).toBe(0)

    // on the wire: one error header, then the end of the stream
    const stream = await b.libp2p.dialProtocol(a.libp2p.peerId, FETCH_PROTOCOL)
    stream.send(encodeFrame(encodeRequest({ hash, start: 0 })))
    stream.send(encodeFrame(encodeCredit(MiB)))
    const { bytes, reset } = await readAll(stream)
    const { header, rest } = splitReply(bytes)
    expect(() => parseHeader(header, 256)).toThrow(expect.objectContaining({ remoteCode: 'ERR_NOT_ALLOWED' }))
    expect(rest.byteLength).toBe(0)
    expect(reset).toBe(false)
    expect(a.service.stats()).toMatchObject({ refused: 2, bytesServed: 0, served: 0 })
  })

  it('refuses unknown blobs and ranges outside the blob', async () => {
    const [a, b] = await pair()
    const hash = await storeRandom(a, 1000)
    const none = collector()
    await expect(fetchRange(b.libp2p, a.id, 'cd'.repeat(32), 0, undefined, none.sink)).rejects.toMatchObject({ remoteCode: 'ERR_NOT_FOUND' })
    await expect(fetchRange(b.libp2p, a.id, hash, 500, 1001, none.sink)).rejects.toMatchObject({ remoteCode: 'ERR_INVALID_RANGE' })
    await expect(fetchRange(b.libp2p, a.id, hash, 1001, undefined, none.sink)).rejects.toMatchObject({ remoteCode: 'ERR_INVALID_RANGE' })
    await expect(fetchRange(b.libp2p, a.id, hash, 0, undefined, none.sink, { expectedSize: 999 })).rejects.toMatchObject({ code: 'ERR_SIZE_MISMATCH' })
    await expect(fetchRange(b.libp2p, a.id, 'nope', 0, undefined, none.sink)).rejects.toMatchObject({ code: 'ERR_INVALID_HASH' })
    await expect(fetchRange(b.libp2p, a.id, hash, 5, 2, none.sink)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    expect(none.bytes().byteLength).toBe(0)
    expect(a.service.stats().errors).toEqual({ ERR_NOT_FOUND: 1, ERR_INVALID_RANGE: 2 })
  })

  it('refuses malformed and oversized requests without crashing, and keeps serving', async () => {
    const [a, b] = await pair()
    const hash = await storeRandom(a, 1000)
    const cases: Array<[Uint8Array, string]> = [
      [encodeFrame(new TextEncoder().encode('not cbor')), 'ERR_MALFORMED'],
      [encodeFrame(encodeCbor({ hash, start: -1 })), 'ERR_MALFORMED'],
      [encodeFrame(encodeCbor({ hash, start: 0, extra: 1 })), 'ERR_MALFORMED'],
      [encodeFrame(encodeCbor({ hash: hash.toUpperCase(), start: 0 })), 'ERR_MALFORMED'],
      [encodeFrame(encodeCbor({ hash, start: 10, end: 5 })), 'ERR_MALFORMED'],
      // a 100 MiB length prefix and nothing else: refused on the prefix alone
      [encodeVarint(100 * MiB), 'ERR_TOO_LARGE'],
      [encodeFrame(new Uint8Array(4096)), 'ERR_TOO_LARGE']
    ]
    for (const [bytes, code] of cases) {
      const stream = await b.libp2p.dialProtocol(a.libp2p.peerId, FETCH_PROTOCOL)
      stream.send(bytes)
      const { header, rest } = splitReply((await readAll(stream)).bytes)
      expect(() => parseHeader(header, 256)).toThrow(expect.objectContaining({ remoteCode: code }))
      expect(rest.byteLength).toBe(0)
    }
    expect(a.service.stats().errors).toEqual({ ERR_MALFORMED: 5, ERR_TOO_LARGE: 2 })
    const ok = collector()
    await fetchRange(b.libp2p, a.id, hash, 0, undefined, ok.sink)
    expect(sha256(ok.bytes())).toBe(hash)
  })

  it('never sends more than the credit granted', async () => {
    const [a, b] = await pair({ frameTimeoutMs: 300 })
    const hash = await storeRandom(a, 8 * MiB)
    const stream = await b.libp2p.dialProtocol(a.libp2p.peerId, FETCH_PROTOCOL)
    stream.send(encodeFrame(encodeRequest({ hash, start: 0 })))
    stream.send(encodeFrame(encodeCredit(MiB + 3)))
    // no more credit: the holder sends exactly what was granted, waits, then gives up (ERR_TIMEOUT)
    const { bytes, reset } = await readAll(stream)
    expect(reset).toBe(true)
    const { header, rest } = splitReply(bytes)
    expect(parseHeader(header, 256)).toEqual({ size: 8 * MiB })
    expect(rest.byteLength).toBe(MiB + 3)
    await waitFor(() => a.service.stats().errors.ERR_TIMEOUT === 1, { what: 'the stalled request to time out' })
    expect(a.service.stats().bytesServed).toBe(MiB + 3)
  })

  it('resets a client that grants more than the window allows', async () => {
    const [a, b] = await pair({ maxWindowBytes: 4 * MiB })
    const hash = await storeRandom(a, 16 * MiB)
    const stream = await b.libp2p.dialProtocol(a.libp2p.peerId, FETCH_PROTOCOL)
    stream.send(encodeFrame(encodeRequest({ hash, start: 0 })))
    stream.send(encodeFrame(encodeCredit(3 * MiB)))
    stream.send(encodeFrame(encodeCredit(2 * MiB)))
    const { bytes, reset } = await readAll(stream)
    expect(reset).toBe(true)
    expect(splitReply(bytes).rest.byteLength).toBeLessThanOrEqual(3 * MiB)
    await waitFor(() => a.service.stats().errors.ERR_WINDOW === 1, { what: 'the over-grant to be refused' })
  })

  it('times out a silent client and answers ERR_BUSY past the concurrency limit', async () => {
    const [a, b] = await pair({ frameTimeoutMs: 500, maxConcurrentRequests: 1 })
    const hash = await storeRandom(a, 1000)
    const silent = await b.libp2p.dialProtocol(a.libp2p.peerId, FETCH_PROTOCOL)
    const none = collector()
    await expect(fetchRange(b.libp2p, a.id, hash, 0, undefined, none.sink)).rejects.toMatchObject({ remoteCode: 'ERR_BUSY' })
    expect((await readAll(silent)).reset).toBe(true)
    await waitFor(() => a.service.stats().errors.ERR_TIMEOUT === 1, { what: 'the silent client to time out' })
    expect(a.service.stats().busy).toBe(1)
    const ok = collector()
    await fetchRange(b.libp2p, a.id, hash, 0, undefined, ok.sink)
    expect(sha256(ok.bytes())).toBe(hash)
  })

  it('rejects a bad header, short data or a silent holder on the client side', async () => {
    const [, b] = await pair()
    const m = await fm.node()
    await fm.connectAll()
    const hash = 'ef'.repeat(32)
    const replies = [
      encodeFrame(encodeCbor({ ok: 'yes' })),
      encodeVarint(64 * MiB),
      Buffer.concat([encodeFrame(encodeCbor({ ok: true, size: 100 })), new Uint8Array(40)]),
      new Uint8Array(0)
    ]
    await m.service.stop()
    await m.libp2p.handle(FETCH_PROTOCOL, (stream) => {
      const reply = replies.shift() ?? new Uint8Array(0)
      stream.addEventListener('message', () => {
        if (reply.byteLength === 0) return
        stream.send(reply)
        void stream.close().catch(() => {})
      }, { once: true })
    })
    const none = collector()
    for (const code of ['ERR_MALFORMED', 'ERR_TOO_LARGE', 'ERR_TRUNCATED', 'ERR_TIMEOUT']) {
      await expect(fetchRange(b.libp2p, m.id, hash, 0, undefined, none.sink, { frameTimeoutMs: 300 })).rejects.toMatchObject({ code })
    }
  })

  it('stop() cuts off requests in flight', async () => {
    const [a, b] = await pair()
    const hash = await storeRandom(a, 8 * MiB)
    let stopping: Promise<void> | undefined
    const p = fetchRange(b.libp2p, a.id, hash, 0, undefined, () => { stopping ??= a.service.stop() }, { windowBytes: MiB, ackBytes: MiB })
    await expect(p).rejects.toMatchObject({ code: 'ERR_RESET' })
    await stopping
    expect(a.service.isStarted()).toBe(false)
    expect(a.service.stats().bytesServed).toBeLessThan(8 * MiB)
  })
})
