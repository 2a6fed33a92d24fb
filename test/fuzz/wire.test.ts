import { createHash } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import * as attach from '../../protocols/attach/index.js'
import * as fetch from '../../protocols/fetch/index.js'
import { serveRequest } from '../../protocols/fetch/server.js'
import { encodeFrame, encodeVarint, FrameReader } from '../../protocols/sync/index.js'
import * as sync from '../../protocols/sync/index.js'
import { serveSession } from '../../protocols/sync/server.js'
import { frames, message, varint } from './gen.js'
import { codes, fuzz, SEED, timeLimit } from './harness.js'
import { makeSamples } from './samples.js'
import type { Prng } from './prng.js'
import type { Samples } from './samples.js'
import type { Stream } from '@libp2p/interface'

let s: Samples

beforeAll(async () => {
  s = await makeSamples()
  console.log(`[fuzz] seed ${SEED} (set CIT_FUZZ_SEED=${SEED} to replay this run)`)
})

const WIRE = codes('ERR_MALFORMED', 'ERR_TOO_LARGE')

/** one parser: every outcome is a value or one of `allowed`'s typed errors */
async function parser (target: string, valid: unknown[], parse: (bytes: Uint8Array, rng: Prng) => unknown, allowed = WIRE): Promise<Record<string, number>> {
  const tally = await fuzz(target, rng => { parse(message(rng, valid), rng); return 'accepted' }, { allowed })
  expect(tally.reasons.accepted, `${target}: some valid messages`).toBeGreaterThan(0)
  expect(tally.reasons.ERR_MALFORMED, `${target}: some refusals`).toBeGreaterThan(0)
  return tally.reasons
}

/**
 * A stream as a handler sees it, fed from `chunks` (some as Uint8ArrayList-like objects), that
 * records what the handler sends. It ends when the chunks run out.
 */
function fakeStream (rng: Prng, chunks: Uint8Array[]): Stream & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = []
  const stream = {
    sent,
    status: 'open',
    send: (data: Uint8Array) => { sent.push(data); return rng.bool(0.9) },
    onDrain: async () => {},
    close: async () => { stream.status = 'closed' },
    abort: () => { stream.status = 'aborted' },
    async * [Symbol.asyncIterator] () {
      for (const c of chunks) yield rng.bool(0.3) ? { subarray: () => c } : c
    }
  }
  return stream as unknown as Stream & { sent: Uint8Array[] }
}

describe('fuzz: sync, fetch and attach messages and frames', () => {
  it('sync: parseRequest and parsePage', async () => {
    await parser('sync.parseRequest', [{ after: 3, limit: 10 }, { logId: 'abc', after: 0, limit: 256 }], b => sync.parseRequest(b, sync.SYNC_MAX_REQUEST_BYTES))
    const pages = [{ logId: 'abc', items: [s.envelopes[0]], next: 5, more: true }, { logId: 'abc', items: [], next: 4, more: false }, { error: 'ERR_INTERNAL' }]
    const reasons = await parser('sync.parsePage', pages, (b, rng) => sync.parsePage(b, sync.SYNC_MAX_RESPONSE_BYTES, rng.pick([{ after: 4, limit: 10 }, { logId: 'abc', after: 2, limit: 1 }, { logId: 'x', after: 9, limit: 256 }])), codes('ERR_MALFORMED', 'ERR_TOO_LARGE', 'ERR_REMOTE'))
    expect(reasons.ERR_REMOTE).toBeGreaterThan(0)
  }, timeLimit(120_000))

  it('fetch: parseRequest, parseCredit and parseHeader', async () => {
    await parser('fetch.parseRequest', [{ hash: s.announcement.nonce === '' ? '' : 'ab'.repeat(32), start: 0 }, { hash: 'cd'.repeat(32), start: 5, end: 10 }], b => fetch.parseRequest(b, fetch.FETCH_MAX_REQUEST_BYTES))
    await parser('fetch.parseCredit', [{ credit: 1024 }, { credit: fetch.FETCH_MAX_WINDOW_BYTES }], b => fetch.parseCredit(b, fetch.FETCH_MAX_CREDIT_BYTES))
    await parser('fetch.parseHeader', [{ ok: true, size: 10 }, { ok: false, error: 'ERR_NOT_FOUND' }], b => fetch.parseHeader(b, fetch.FETCH_MAX_HEADER_BYTES), codes('ERR_MALFORMED', 'ERR_TOO_LARGE', 'ERR_REMOTE'))
  }, timeLimit(120_000))

  it('attach: parseHello, parseReply, parseClientFrame and parseServerFrame', async () => {
    const job = 'ab'.repeat(32)
    await parser('attach.parseHello', [{ job, mode: 'ro', window: 65536 }, { job, mode: 'rw', cols: 80, rows: 24, window: 1024 }], b => attach.parseHello(b, attach.ATTACH_MAX_HELLO_BYTES))
    await parser('attach.parseReply', [{ ok: true, cols: 80, rows: 24, inputRate: 1000, inputBurst: 1000, inputMax: 4096 }, { ok: false, error: 'ERR_BUSY' }], b => attach.parseReply(b, attach.ATTACH_MAX_REPLY_BYTES))
    await parser('attach.parseClientFrame', [{ type: 'input', data: new Uint8Array([1, 2]) }, { type: 'resize', cols: 10, rows: 10 }, { type: 'credit', bytes: 100 }, { type: 'ping' }, { type: 'detach' }],
      b => attach.parseClientFrame(b, attach.ATTACH_MAX_CLIENT_FRAME_BYTES))
    await parser('attach.parseServerFrame', [{ type: 'output', data: new Uint8Array([65]) }, { type: 'resync', dropped: 3 }, { type: 'refused', what: 'input', code: 'ERR_READ_ONLY' },
      { type: 'ping' }, { type: 'end', state: 'succeeded', exitCode: 0, reason: 'ok' }, { type: 'resize', cols: 1, rows: 1 }], b => attach.parseServerFrame(b, attach.ATTACH_MAX_SERVER_FRAME_BYTES))
  }, timeLimit(120_000))

  it('FrameReader: random chunking, cut frames and huge length prefixes', async () => {
    const tally = await fuzz('sync.FrameReader', async rng => {
      const reader = new FrameReader(fakeStream(rng, frames(rng, [{ after: 1, limit: 2 }])))
      let n = 0
      for (;;) {
        const frame = await reader.read(rng.pick([16, 1024, 65536]), 1000, AbortSignal.timeout(5000))
        if (frame === undefined) return n === 0 ? 'empty' : 'frames read'
        n++
      }
    }, { allowed: codes('ERR_MALFORMED', 'ERR_TOO_LARGE') })
    expect(tally.reasons.ERR_TOO_LARGE).toBeGreaterThan(0)
  }, timeLimit(120_000))

  it('the sync server handler: a session fed random frames ends with a typed error or a clean close', async () => {
    const log = {
      logId: 'log-1',
      readAfter: async (after: number, limit: number) => ({ items: s.envelopes.slice(after, after + limit).map((bytes, i) => ({ seq: after + i + 1, bytes })), lastSeq: s.envelopes.length })
    }
    const limits = { maxPageItems: 4, maxPageBytes: 1 << 20, maxItemBytes: 256 * 1024, maxRequestBytes: sync.SYNC_MAX_REQUEST_BYTES, frameTimeoutMs: 1000, maxPages: 8 }
    const tally = await fuzz('sync.serveSession', async rng => {
      const stream = fakeStream(rng, frames(rng, [{ after: 0, limit: 4 }, { logId: 'log-1', after: 2, limit: 2 }, { logId: 'other', after: 9, limit: 1 }]))
      const r = await serveSession(stream, log, limits, AbortSignal.timeout(5000))
      // every page it sent parses as a page
      return r.pages > 0 ? 'served pages' : 'closed'
    }, { allowed: codes('ERR_MALFORMED', 'ERR_TOO_LARGE') })
    expect(tally.reasons['served pages']).toBeGreaterThan(0)
  }, timeLimit(120_000))

  it('the fetch server handler: random requests and credit end with a reply code or a typed error', async () => {
    const blob = new Uint8Array(100_000).fill(7)
    const hash = createHash('sha256').update(blob).digest('hex')
    const blobs = {
      stat: async (h: string) => {
        if (h !== hash) throw Object.assign(new Error('not found'), { code: 'ERR_BLOB_NOT_FOUND' })
        return { hash, size: blob.byteLength }
      },
      get: async function * (_h: string, o: { start?: number, end?: number } = {}) { yield blob.subarray(o.start ?? 0, o.end ?? blob.byteLength) }
    }
    const valid = [{ hash, start: 0 }, { hash, start: 10, end: 500 }, { credit: 65536 }, { credit: 10 }, { hash: 'ef'.repeat(32), start: 0 }]
    const tally = await fuzz('fetch.serveRequest', async rng => {
      // half the cases are a request then credit, each maybe changed: the shape a client sends
      const shaped = (): Uint8Array[] => [encodeFrame(message(rng, valid.slice(0, 2))), ...Array.from({ length: 1 + rng.int(3) }, () => encodeFrame(message(rng, [{ credit: 65536 }, { credit: 100_000 }])))]
      const stream = fakeStream(rng, rng.bool() ? shaped() : frames(rng, valid))
      const r = await serveRequest(stream, { blobs, limits: { frameTimeoutMs: 200, maxWindowBytes: 1 << 20 }, signal: AbortSignal.timeout(5000), refusal: rng.bool(0.05) ? 'ERR_NOT_ALLOWED' : undefined })
      return r.bytes > 0 ? 'served bytes' : 'served nothing'
    }, { allowed: codes('ERR_MALFORMED', 'ERR_TOO_LARGE', 'ERR_NOT_FOUND', 'ERR_INVALID_RANGE', 'ERR_NOT_ALLOWED', 'ERR_WINDOW', 'ERR_TIMEOUT', 'ERR_RESET') })
    expect(tally.reasons['served bytes']).toBeGreaterThan(0)
  }, timeLimit(120_000))

  it('the length prefix alone decides: frames announcing 1 GiB or 255 MiB are refused before any of their body is read', async () => {
    for (const [length, code] of [[2 ** 30, 'ERR_MALFORMED'], [2 ** 28 - 1, 'ERR_TOO_LARGE']] as const) {
      let pulled = 0
      const stream = {
        async * [Symbol.asyncIterator] () {
          yield length === 2 ** 30 ? varint(length) : encodeVarint(length)
          // a peer that would go on sending forever
          for (;;) { pulled++; yield new Uint8Array(65536) }
        }
      }
      const reader = new FrameReader(stream)
      // 1 GiB needs a 5-byte prefix, longer than any frame this protocol allows: malformed at once
      await expect(reader.read(sync.SYNC_MAX_REQUEST_BYTES, 1000, AbortSignal.timeout(5000))).rejects.toMatchObject({ code })
      expect(pulled).toBe(0)
    }
  })
})
