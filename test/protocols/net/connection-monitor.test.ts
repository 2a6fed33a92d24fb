import { afterEach, describe, expect, it } from 'vitest'
import { addrOf, connected, TestMesh } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

type PingHandler = (stream: unknown, connection: unknown) => Promise<void>

/** count the ping streams `node` receives per protocol, still answering `/cit/ping/1.0.0` */
async function countPings (node: MeshLibp2p): Promise<{ cit: number, ipfs: number }> {
  const counts = { cit: 0, ipfs: 0 }
  // the ping service's own handler, so a counted ping is still answered as before
  const service = node.services.ping as unknown as { handlePing: PingHandler }
  await node.unhandle('/cit/ping/1.0.0')
  await node.handle('/cit/ping/1.0.0', async (stream, connection) => {
    counts.cit++
    await service.handlePing(stream, connection)
  }, { maxInboundStreams: 8, maxOutboundStreams: 8 })
  // served here only so that a ping on it can be seen: no member serves it
  await node.handle('/ipfs/ping/1.0.0', (stream) => {
    counts.ipfs++
    stream.abort(new Error('not served'))
  })
  return counts
}

describe('connection monitor', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  it('pings each connection on /cit/ping, the protocol members serve, never on /ipfs/ping', async () => {
    const b = await mesh.node(await mesh.identity())
    const counts = await countPings(b)
    const a = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(b)], pingIntervalMs: 200 })
    await waitFor(() => connected(a, b), { what: 'a and b to connect' })
    // a's monitor pings b five times within a few intervals; the DHT's own ping of a new peer is one
    await waitFor(() => counts.cit >= 5, { what: 'five monitor pings on /cit/ping', timeoutMs: 30_000 })
    expect(counts.ipfs).toBe(0)
    // the ping was answered: the monitor measured the round trip of a's connection to b
    const conn = a.getConnections(b.peerId).find(c => c.status === 'open')
    expect(conn?.rtt).toBeGreaterThanOrEqual(0)
    expect(connected(a, b)).toBe(true)
  })

  it('pings a connection only once it has received nothing for an interval', async () => {
    const b = await mesh.node(await mesh.identity())
    const a = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(b)], pingIntervalMs: 1500 })
    await waitFor(() => connected(a, b), { what: 'a and b to connect' })
    // b keeps sending to a (a ping of its own every 100 ms): a's connection is never quiet, so a pings nothing
    await waitFor(() => a.services.monitor.stats().skipped >= 1, { what: 'a to look at its connection' })
    const before = a.services.monitor.stats().pings
    for (let i = 0; i < 20; i++) {
      await b.services.ping.ping(a.peerId)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect(a.services.monitor.stats().pings).toBe(before)
    // left alone, the connection goes quiet and a pings b
    await waitFor(() => a.services.monitor.stats().pings > before, { what: 'a to ping the quiet connection', timeoutMs: 10_000 })
    expect(connected(a, b)).toBe(true)
  })

  it('closes a connection whose peer stops answering pings', async () => {
    const b = await mesh.node(await mesh.identity())
    // b takes ping streams and never answers them, as a hung or unreachable peer would
    await b.unhandle('/cit/ping/1.0.0')
    await b.handle('/cit/ping/1.0.0', () => {}, { maxInboundStreams: 8, maxOutboundStreams: 8 })
    const a = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(b)], pingIntervalMs: 300, pingTimeoutMs: 300 })
    await waitFor(() => connected(a, b), { what: 'a and b to connect' })
    await waitFor(() => a.services.monitor.stats().closed >= 1, { what: 'a to close the connection to b', timeoutMs: 10_000 })
  })

  it('refuses a bad ping interval', async () => {
    const id = await mesh.identity()
    await expect(mesh.node(id, { pingIntervalMs: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
    await expect(mesh.node(id, { pingTimeoutMs: 1.5 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
  })
})
