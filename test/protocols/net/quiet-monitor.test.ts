/**
 * The quiet monitor's choice of whom to ping and what it closes, at its unit seam: stand-in
 * connections with a receive time each and a stand-in ping. (Pings between real nodes, and a real
 * dead peer, are in connection-monitor.test.ts.)
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { QuietMonitor } from '../../../protocols/net/quiet-monitor.js'
import type { AbortOptions, Connection, PeerId } from '@libp2p/interface'

interface FakeConn { remotePeer: PeerId, status: string, receivedAt?: number, aborted?: Error, rtt?: number }

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

function setup (conns: FakeConn[], answer: (peer: PeerId, options?: AbortOptions) => Promise<number>): { monitor: QuietMonitor, pinged: string[], clock: { now: number } } {
  const pinged: string[] = []
  const clock = { now: 1_000_000 }
  const monitor = new QuietMonitor({
    connectionManager: { getConnections: () => conns.map(c => Object.assign(c, { abort: (err: Error) => { c.aborted = err; c.status = 'closed' } }) as unknown as Connection) },
    ping: { ping: async (p, options) => { pinged.push(p.toString()); return await answer(p, options) } }
  }, {
    intervalMs: 60_000,
    timeoutMs: 50,
    now: () => clock.now,
    lastReceivedAt: conn => (conn as unknown as FakeConn).receivedAt
  })
  return { monitor, pinged, clock }
}

describe('QuietMonitor', () => {
  it('pings only connections that received nothing for an interval, and records the round trip', async () => {
    const [busy, quiet, unknown] = [await peer(), await peer(), await peer()]
    const conns: FakeConn[] = [
      { remotePeer: busy, status: 'open', receivedAt: 1_000_000 - 59_000 },
      { remotePeer: quiet, status: 'open', receivedAt: 1_000_000 - 61_000 },
      // a connection of another shape: no receive time, so it is pinged
      { remotePeer: unknown, status: 'open' },
      { remotePeer: await peer(), status: 'closing', receivedAt: 0 }
    ]
    const { monitor, pinged } = setup(conns, async () => 7)
    monitor.start()
    try {
      await monitor.checkNow()
      expect(pinged.sort()).toEqual([quiet.toString(), unknown.toString()].sort())
      expect(monitor.stats()).toEqual({ pings: 2, skipped: 1, closed: 0 })
      expect(conns[1].rtt).toBe(7)
      expect(conns.every(c => c.aborted == null)).toBe(true)
    } finally {
      monitor.stop()
    }
  })

  it('closes the connections of a peer that does not answer within the timeout; one ping per peer at a time', async () => {
    const dead = await peer()
    const conns: FakeConn[] = [
      { remotePeer: dead, status: 'open', receivedAt: 0 },
      { remotePeer: dead, status: 'open', receivedAt: 0 }
    ]
    // the peer never answers: the ping ends only when the monitor's deadline aborts it
    const { monitor, pinged } = setup(conns, async (_p, options) => await new Promise<number>((_resolve, reject) => {
      options?.signal?.addEventListener('abort', () => { reject(new Error('aborted')) })
    }))
    monitor.start()
    try {
      await Promise.all([monitor.checkNow(), monitor.checkNow()])
      expect(pinged).toEqual([dead.toString()])
      expect(conns.map(c => c.status)).toEqual(['closed', 'closed'])
      expect(monitor.stats()).toMatchObject({ pings: 1, closed: 2 })
    } finally {
      monitor.stop()
    }
  })

  it('does nothing when stopped; start and stop are idempotent', async () => {
    const { monitor, pinged } = setup([{ remotePeer: await peer(), status: 'open', receivedAt: 0 }], async () => 1)
    await monitor.checkNow()
    expect(pinged).toEqual([])
    monitor.start()
    monitor.start()
    expect(monitor.isStarted()).toBe(true)
    monitor.stop()
    monitor.stop()
    expect(monitor.isStarted()).toBe(false)
  })
})
