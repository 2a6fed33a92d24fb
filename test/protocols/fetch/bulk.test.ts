import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { BulkServer, fetchRangeBulk } from '../../../protocols/fetch/index.js'
import { readRecords } from '../../../protocols/fetch/bulk-client.js'
import { HELLO_BYTES, RECORD_HEADER_BYTES, TAG_BYTES, helloProof } from '../../../protocols/fetch/bulk-wire.js'
import { waitFor } from '../../helpers/wait.js'
import { FetchMesh, MiB, sha256, storeRandom } from './helpers.js'
import type { Server, Socket } from 'node:net'

/** a sink that keeps what it is given */
function collector (): { sink: (c: Uint8Array) => void, bytes: () => Buffer } {
  const parts: Uint8Array[] = []
  return { sink: (c) => { parts.push(Uint8Array.from(c)) }, bytes: () => Buffer.concat(parts) }
}

/** connect to the bulk port and send `hello`; resolves with every byte the holder sent before closing */
async function redeem (port: number, hello: Uint8Array): Promise<Buffer> {
  const socket = connect({ host: '127.0.0.1', port })
  await once(socket, 'connect')
  socket.write(hello)
  const parts: Buffer[] = []
  socket.on('data', (d: Buffer) => parts.push(d))
  await new Promise<void>(resolve => { socket.on('close', () => { resolve() }); socket.on('error', () => {}) })
  return Buffer.concat(parts)
}

function hello (t: { ticket: Uint8Array, key: Uint8Array }): Buffer {
  return Buffer.concat([t.ticket, helloProof(t.key, t.ticket)])
}

describe('fetch bulk channel', () => {
  const fm = new FetchMesh()
  const servers: Array<BulkServer | Server> = []
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    for (const s of servers.splice(0)) {
      if (s instanceof BulkServer) await s.stop()
      else await new Promise<void>(resolve => { s.close(() => { resolve() }) })
    }
    await fm.stop()
  })

  async function pair (): Promise<Awaited<ReturnType<FetchMesh['node']>>[]> {
    const a = await fm.node()
    const b = await fm.node()
    await fm.connectAll()
    return [a, b]
  }

  it('fetches a whole blob and a range over TCP in sealed records, not over the libp2p stream', async () => {
    const [a, b] = await pair()
    expect(a.service.bulkPort).toBeGreaterThan(0)
    const size = 3 * MiB + 17
    const hash = await storeRandom(a, size)
    const whole = collector()
    expect(await fetchRangeBulk(b.libp2p, a.id, hash, 0, undefined, whole.sink)).toEqual({ size, bytes: size })
    expect(sha256(whole.bytes())).toBe(hash)
    const part = collector()
    expect(await fetchRangeBulk(b.libp2p, a.id, hash, MiB - 3, 2 * MiB + 5, part.sink)).toEqual({ size, bytes: MiB + 8 })
    expect(Buffer.compare(part.bytes(), whole.bytes().subarray(MiB - 3, 2 * MiB + 5))).toBe(0)
    // the holder counts a range served once its side of the socket is closed, just after the client has the bytes
    await waitFor(() => a.service.stats().served === 2, { what: 'two ranges served' })
    expect(a.service.stats()).toMatchObject({ bytesServed: size + MiB + 8, errors: {} })
  })

  it('recheck() after a change of roles cuts the transfer of a peer that lost read, mid-way', async () => {
    const [a, b] = await pair()
    const size = 96 * MiB
    const hash = await storeRandom(a, size)
    let received = 0
    let rechecked: number | undefined
    const fetching = fetchRangeBulk(b.libp2p, a.id, hash, 0, undefined, c => {
      received += c.byteLength
      if (rechecked === undefined && received > 0) {
        // its read role is revoked while the bytes flow
        fm.noRead.add(b.id)
        rechecked = a.service.recheck()
      }
    })
    await expect(fetching).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_/) })
    expect(rechecked).toBe(1)
    expect(received).toBeLessThan(size)
    // nothing is cut while everyone may fetch
    expect(a.service.recheck()).toBe(0)
  })

  it('refuses a peer without the read role before any ticket is issued', async () => {
    const [a, b] = await pair()
    const hash = await storeRandom(a, 4096)
    fm.noRead.add(b.id)
    const got = collector()
    await expect(fetchRangeBulk(b.libp2p, a.id, hash, 0, undefined, got.sink)).rejects.toMatchObject({ code: 'ERR_REMOTE', remoteCode: 'ERR_NOT_ALLOWED' })
    expect(got.bytes().byteLength).toBe(0)
  })

  it('says ERR_BULK_UNAVAILABLE for a holder without the bulk channel', async () => {
    const a = await fm.node({ init: { bulkHost: undefined } })
    const b = await fm.node()
    await fm.connectAll()
    const hash = await storeRandom(a, 4096)
    await expect(fetchRangeBulk(b.libp2p, a.id, hash, 0, undefined, () => {})).rejects.toMatchObject({ code: 'ERR_BULK_UNAVAILABLE' })
  })

  it('a ticket is used once, needs the key, comes from the address it was issued to and expires', async () => {
    const a = await fm.node()
    const hash = await storeRandom(a, 64 * 1024)
    const bulk = new BulkServer({ blobs: a.blobs }, { host: '127.0.0.1', ticketTtlMs: 200 })
    servers.push(bulk)
    await bulk.start()
    const range = { hash, start: 0, end: 64 * 1024, remoteHost: '127.0.0.1' }

    const t = bulk.issue(range)!
    const first = await redeem(bulk.port, hello(t))
    expect(first.byteLength).toBe(RECORD_HEADER_BYTES + 64 * 1024 + TAG_BYTES)
    // the same ticket again: nothing
    expect((await redeem(bulk.port, hello(t))).byteLength).toBe(0)

    // the right ticket with a wrong proof: nothing, and the ticket is spent
    const wrong = bulk.issue(range)!
    const forged = hello(wrong)
    forged[HELLO_BYTES - 1] ^= 1
    expect((await redeem(bulk.port, forged)).byteLength).toBe(0)
    expect((await redeem(bulk.port, hello(wrong))).byteLength).toBe(0)

    // a ticket issued to another address
    const elsewhere = bulk.issue({ ...range, remoteHost: '10.11.12.13' })!
    expect((await redeem(bulk.port, hello(elsewhere))).byteLength).toBe(0)

    // a ticket left unused past its lifetime
    const late = bulk.issue(range)!
    await waitFor(() => bulk.outstandingTickets === 0, { what: 'the unused ticket to expire', timeoutMs: 5_000 })
    expect(bulk.outstandingTickets).toBe(0)
    expect((await redeem(bulk.port, hello(late))).byteLength).toBe(0)
  })

  it('a record altered, or dropped, on the way fails authentication and is never handed on', async () => {
    const a = await fm.node()
    const size = 3 * MiB
    const hash = await storeRandom(a, size)
    const bulk = new BulkServer({ blobs: a.blobs }, { host: '127.0.0.1' })
    servers.push(bulk)
    await bulk.start()
    for (const attack of ['flip a byte of the second record', 'drop the first record'] as const) {
      // a man in the middle between the client and the holder's bulk port
      const record = RECORD_HEADER_BYTES + MiB + TAG_BYTES
      const proxy = createServer(client => {
        const upstream = connect({ host: '127.0.0.1', port: bulk.port })
        sockets.push(client, upstream)
        client.pipe(upstream)
        let seen = 0
        upstream.on('data', (d: Buffer) => {
          const out = Buffer.from(d)
          for (let i = 0; i < out.byteLength; i++, seen++) {
            if (attack === 'flip a byte of the second record' && seen === record + 100) out[i] ^= 0x40
          }
          if (attack === 'drop the first record') {
            const from = Math.max(0, record - (seen - out.byteLength))
            if (from < out.byteLength) client.write(out.subarray(from))
          } else {
            client.write(out)
          }
        })
        upstream.on('end', () => client.end())
        client.on('error', () => {})
        upstream.on('error', () => {})
      })
      servers.push(proxy)
      proxy.listen(0, '127.0.0.1')
      await once(proxy, 'listening')
      const port = (proxy.address() as { port: number }).port
      const t = bulk.issue({ hash, start: 0, end: size })!
      const socket = connect({ host: '127.0.0.1', port })
      sockets.push(socket)
      await once(socket, 'connect')
      socket.write(hello(t))
      const got = collector()
      await expect(readRecords(socket, t.key, t.ticket, size, got.sink, 5000, AbortSignal.timeout(10_000)), attack).rejects.toMatchObject({ code: 'ERR_MALFORMED' })
      // the flipped record and everything after it never reached the sink
      expect(got.bytes().byteLength, attack).toBe(attack === 'drop the first record' ? 0 : MiB)
    }
  })
})

describe('fetch bulk channel limits', () => {
  const fm = new FetchMesh()
  const servers: BulkServer[] = []
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    for (const s of servers.splice(0)) await s.stop()
    await fm.stop()
  })

  /** a client that sends its hello and then reads nothing, so the holder's send stays under way */
  async function stall (port: number, hello?: Uint8Array): Promise<Socket> {
    const socket = connect({ host: '127.0.0.1', port })
    sockets.push(socket)
    socket.on('error', () => {})
    await once(socket, 'connect')
    socket.pause()
    if (hello != null) socket.write(hello)
    return socket
  }

  it('a member cycling tickets runs no more transfers at once than the cap: more tickets are refused, a ticket redeemed when full gets nothing', async () => {
    const a = await fm.node()
    // more than loopback socket buffers hold, so a client that reads nothing keeps its send open
    const size = 32 * MiB
    const hash = await storeRandom(a, size)
    const bulk = new BulkServer({ blobs: a.blobs }, { host: '127.0.0.1', maxActiveSends: 2, writeTimeoutMs: 60_000 })
    servers.push(bulk)
    await bulk.start()
    const range = { hash, start: 0, end: size, remoteHost: '127.0.0.1' }
    const tickets = [bulk.issue(range)!, bulk.issue(range)!, bulk.issue(range)!]
    await stall(bulk.port, hello(tickets[0]))
    await stall(bulk.port, hello(tickets[1]))
    await waitFor(() => bulk.activeSends === 2, { what: 'two sends under way' })
    // the cap is full: a new ticket is refused (the handler answers ERR_BUSY) ...
    expect(bulk.issue(range)).toBeUndefined()
    // ... and one issued before is spent unanswered
    expect((await redeem(bulk.port, hello(tickets[2]))).byteLength).toBe(0)
    expect(bulk.activeSends).toBe(2)
    // a transfer that ends frees its place
    sockets[0].destroy()
    await waitFor(() => bulk.activeSends === 1, { what: 'a send ended' })
    expect(bulk.issue(range)).toBeDefined()
  })

  it('bounds the sockets open on the listener, unauthenticated ones waiting for their hello included', async () => {
    const bulk = new BulkServer({ blobs: (await fm.node()).blobs }, { host: '127.0.0.1', maxConnections: 2, helloTimeoutMs: 120_000 })
    servers.push(bulk)
    await bulk.start()
    const first = await stall(bulk.port)
    const second = await stall(bulk.port)
    await waitFor(() => bulk.openSockets === 2, { what: 'the listener to hold the first two sockets' })
    const third = await stall(bulk.port)
    third.resume()
    // the third is closed by the holder at once, long before any hello deadline
    await waitFor(() => third.destroyed || third.readableEnded, { what: 'the connection over the bound closed', timeoutMs: 10_000 })
    expect(first.destroyed).toBe(false)
    expect(second.destroyed).toBe(false)
  })

  it('cut(peer) drops the peer\'s tickets and ends its transfers under way, and no one else\'s', async () => {
    const a = await fm.node()
    const size = 32 * MiB
    const hash = await storeRandom(a, size)
    const bulk = new BulkServer({ blobs: a.blobs }, { host: '127.0.0.1', writeTimeoutMs: 60_000 })
    servers.push(bulk)
    await bulk.start()
    const range = { hash, start: 0, end: size, remoteHost: '127.0.0.1' }
    const revoked = await stall(bulk.port, hello(bulk.issue({ ...range, peer: 'revoked' })!))
    const other = await stall(bulk.port, hello(bulk.issue({ ...range, peer: 'other' })!))
    await waitFor(() => bulk.activeSends === 2, { what: 'two sends under way' })
    const spare = bulk.issue({ ...range, peer: 'revoked' })!
    expect(bulk.cut('revoked')).toBe(1)
    expect(bulk.activeSends).toBe(1)
    // what the revoked peer still gets is what was in the socket buffers: never the whole range
    let got = 0
    revoked.on('data', (d: Buffer) => { got += d.byteLength })
    const closed = once(revoked, 'close')
    revoked.resume()
    await closed
    expect(got).toBeLessThan(size)
    expect(other.destroyed).toBe(false)
    // its ticket not yet redeemed is gone too
    expect((await redeem(bulk.port, hello(spare))).byteLength).toBe(0)
  })
})
