import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeCbor, Identity, seal } from '../../../protocols/codec/index.js'
import { encodeFrame, encodeVarint, SYNC_PROTOCOL, SyncService } from '../../../protocols/sync/index.js'
import { addrOf, connected, TestMesh } from '../net/helpers.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'
import type { RecordLog, RecordLogItem, SyncMark, SyncMarks, SyncServiceInit } from '../../../protocols/sync/index.js'
import type { Stream } from '@libp2p/interface'
import { waitFor } from '../../helpers/wait.js'

/** the daemon's log, in memory: same contract as store/meta's RecordLog */
class MemoryLog implements RecordLog {
  logId = randomBytes(8).toString('hex')
  readonly items: RecordLogItem[] = []

  append (bytes: Uint8Array): void {
    this.items.push({ seq: this.items.length + 1, bytes })
  }

  async readAfter (after: number, limit: number, maxBytes: number): Promise<{ items: RecordLogItem[], lastSeq: number }> {
    const out: RecordLogItem[] = []
    let size = 0
    for (const item of this.items) {
      if (item.seq <= after) continue
      if (out.length >= limit || (out.length > 0 && size + item.bytes.byteLength > maxBytes)) break
      out.push(item)
      size += item.bytes.byteLength
    }
    return { items: out, lastSeq: this.items.length }
  }
}

class MemoryMarks implements SyncMarks {
  readonly map = new Map<string, SyncMark>()
  writes = 0
  async get (peer: string): Promise<SyncMark | undefined> { return this.map.get(peer) }
  async set (peer: string, mark: SyncMark): Promise<void> { this.writes++; this.map.set(peer, mark) }
}

interface SyncNode {
  libp2p: MeshLibp2p
  log: MemoryLog
  marks: MemoryMarks
  ingested: Uint8Array[]
  sync: SyncService
}

async function fill (log: MemoryLog, signer: Identity, n: number): Promise<void> {
  for (let i = 0; i < n; i++) log.append(seal(signer, 'event', { i, pad: 'x'.repeat(200) }).bytes)
}

/** read until the stream ends or is reset; true if it was reset */
async function drained (stream: Stream): Promise<boolean> {
  try {
    for await (const _ of stream) { /* discard */ }
    return stream.status === 'reset' || stream.status === 'aborted'
  } catch {
    return true
  }
}

describe('sync on connect', () => {
  const mesh = new TestMesh()
  const services: SyncService[] = []
  afterEach(async () => {
    await Promise.all(services.splice(0).map(async s => { await s.stop() }))
    await mesh.stop()
  })

  async function node (options: { bootstrap?: string[], init?: SyncServiceInit, allow?: (peer: string) => boolean } = {}): Promise<SyncNode> {
    const libp2p = await mesh.node(await mesh.identity(), { bootstrap: options.bootstrap ?? [] })
    const log = new MemoryLog()
    const marks = new MemoryMarks()
    const ingested: Uint8Array[] = []
    const sync = new SyncService({
      libp2p,
      log,
      marks,
      ingest: async (bytes) => { ingested.push(bytes) },
      isAllowed: options.allow ?? ((peer) => mesh.members.has(peer))
    }, options.init)
    await sync.start()
    services.push(sync)
    return { libp2p, log, marks, ingested, sync }
  }

  it('pulls all 1000 records in pages on connect, then only the new ones after a reconnect', async () => {
    const signer = await Identity.generate()
    const a = await node()
    await fill(a.log, signer, 1000)
    const b = await node({ bootstrap: [addrOf(a.libp2p)] })
    const aPeer = a.libp2p.peerId.toString()

    await waitFor(() => b.ingested.length === 1000, { what: 'b to ingest 1000 records' })
    expect(b.ingested).toEqual(a.log.items.map(i => i.bytes))
    await waitFor(() => b.marks.map.get(aPeer)?.seq === 1000, { what: 'the mark to be stored' })
    expect(b.marks.map.get(aPeer)).toEqual({ logId: a.log.logId, seq: 1000 })
    const pages = Math.ceil(1000 / 256)
    expect(b.marks.writes).toBe(pages)
    expect(b.sync.stats().pulled).toMatchObject({ sessions: 1, pages, items: 1000, errors: {} })
    await waitFor(() => a.sync.stats().served.items === 1000, { what: 'a to count what it served' })
    // a pulled from b too, and b had nothing
    expect(a.ingested).toHaveLength(0)

    await fill(a.log, signer, 10)
    let reconnects = 0
    b.libp2p.addEventListener('connection:open', () => { reconnects++ })
    await b.libp2p.hangUp(a.libp2p.peerId)
    // the redialer may win the race to reconnect; either way a new connection starts a sync
    await b.libp2p.dial(a.libp2p.peerId)
    await waitFor(() => b.ingested.length === 1010, { what: 'b to ingest the 10 new records' })
    expect(b.ingested.slice(1000)).toEqual(a.log.items.slice(1000).map(i => i.bytes))
    await waitFor(() => b.marks.map.get(aPeer)?.seq === 1010, { what: 'the new mark' })
    expect(reconnects).toBeGreaterThan(0)
    expect(connected(a.libp2p, b.libp2p)).toBe(true)
  })

  it('starts from 0 when the peer\'s log was replaced', async () => {
    const signer = await Identity.generate()
    const a = await node()
    await fill(a.log, signer, 20)
    const b = await node({ init: { syncOnConnect: false } })
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
    expect(await b.sync.syncNow(a.libp2p.peerId)).toEqual({ pages: 1, items: 20, more: false })

    // a's database was wiped: new log id, fewer records than b's mark
    a.log.logId = 'wiped-and-recreated'
    a.log.items.splice(0)
    await fill(a.log, signer, 5)
    expect(await b.sync.syncNow(a.libp2p.peerId.toString())).toEqual({ pages: 1, items: 5, more: false })
    expect(b.ingested.slice(20)).toEqual(a.log.items.map(i => i.bytes))
    expect(b.marks.map.get(a.libp2p.peerId.toString())).toEqual({ logId: 'wiped-and-recreated', seq: 5 })
  })

  it('continues in further sessions when a session reaches its page limit; one sync per peer at a time', async () => {
    const signer = await Identity.generate()
    const a = await node()
    await fill(a.log, signer, 50)
    const b = await node({ init: { syncOnConnect: false, pageItems: 10, maxPagesPerSession: 2 } })
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
    const [first, second, third] = await Promise.all([0, 1, 2].map(async () => await b.sync.syncNow(a.libp2p.peerId)))
    expect(first).toEqual({ pages: 5, items: 50, more: false })
    // the later calls joined the running sync instead of starting their own
    expect(second).toBe(first)
    expect(third).toBe(first)
    expect(b.ingested).toHaveLength(50)
    expect(new Set(b.ingested.map(x => Buffer.from(x).toString('hex'))).size).toBe(50)
  })

  it('cuts off a peer that sends a malformed or oversized frame, and keeps serving', async () => {
    const a = await node()
    await fill(a.log, await Identity.generate(), 3)
    const b = await node({ init: { syncOnConnect: false } })
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])

    const garbage = await b.libp2p.dialProtocol(a.libp2p.peerId, SYNC_PROTOCOL)
    garbage.send(encodeFrame(new TextEncoder().encode('not cbor')))
    expect(await drained(garbage)).toBe(true)

    const wrongShape = await b.libp2p.dialProtocol(a.libp2p.peerId, SYNC_PROTOCOL)
    wrongShape.send(encodeFrame(encodeCbor({ after: -1, limit: 10 })))
    expect(await drained(wrongShape)).toBe(true)

    // a 100 MiB length prefix and nothing else: refused on the prefix, nothing buffered
    const huge = await b.libp2p.dialProtocol(a.libp2p.peerId, SYNC_PROTOCOL)
    huge.send(encodeVarint(100 * 1024 * 1024))
    expect(await drained(huge)).toBe(true)

    await waitFor(() => a.sync.stats().served.errors.ERR_TOO_LARGE === 1, { what: 'the oversized frame to be counted' })
    expect(a.sync.stats().served.errors).toEqual({ ERR_MALFORMED: 2, ERR_TOO_LARGE: 1 })
    expect(await b.sync.syncNow(a.libp2p.peerId)).toEqual({ pages: 1, items: 3, more: false })
  })

  it('refuses a malformed, oversized or silent server page without storing a mark', async () => {
    const b = await node({ init: { syncOnConnect: false, frameTimeoutMs: 300 } })
    const m = await mesh.node(await mesh.identity())
    const replies = [
      encodeFrame(encodeCbor({ logId: 'x', items: 'nope', next: 0, more: false })),
      encodeVarint(64 * 1024 * 1024),
      encodeFrame(encodeCbor({ logId: 'x', items: [], next: 0, more: true })),
      new Uint8Array(0) // says nothing: the read deadline ends it
    ]
    await m.handle(SYNC_PROTOCOL, (stream) => {
      const reply = replies.shift() ?? new Uint8Array(0)
      stream.addEventListener('message', () => { if (reply.byteLength > 0) stream.send(reply) }, { once: true })
    })
    await b.libp2p.dial(m.getMultiaddrs()[0])
    for (const code of ['ERR_MALFORMED', 'ERR_TOO_LARGE', 'ERR_MALFORMED', 'ERR_TIMEOUT']) {
      await expect(b.sync.syncNow(m.peerId)).rejects.toMatchObject({ code })
    }
    expect(b.sync.stats().pulled.errors).toEqual({ ERR_MALFORMED: 2, ERR_TOO_LARGE: 1, ERR_TIMEOUT: 1 })
    expect(b.marks.writes).toBe(0)
    expect(b.ingested).toHaveLength(0)
  })

  it('serves members only', async () => {
    const a = await node({ allow: () => false })
    await fill(a.log, await Identity.generate(), 3)
    const b = await node({ init: { syncOnConnect: false } })
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
    // a hangs up on an outsider: b's request fails on the closed or reset stream
    const refused = await b.sync.syncNow(a.libp2p.peerId).catch(e => e)
    expect(refused).toBeInstanceOf(Error)
    expect(refused.name).toMatch(/^(Stream(State|Reset)Error|UnsupportedProtocolError)$/)
    expect(a.sync.stats().refused).toBe(1)
    expect(b.ingested).toHaveLength(0)
    await expect(a.sync.syncNow(b.libp2p.peerId)).rejects.toMatchObject({ code: 'ERR_NOT_ALLOWED' })
  })
})
