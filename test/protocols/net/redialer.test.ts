/**
 * The redialer's choice of whom to dial, at its unit seam: a stand-in connection manager that
 * records dials and opens a connection for each. (Redialing between real nodes after a restart
 * is in net.test.ts.)
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { Redialer } from '../../../protocols/net/redialer.js'
import type { Connection, PeerId } from '@libp2p/interface'

async function peerIds (n: number): Promise<PeerId[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

/** connections by peer id; a dial opens one */
class Connections {
  readonly open = new Set<string>()
  readonly dialed: string[] = []
  readonly byId = new Map<string, PeerId>()

  manager () {
    return {
      openConnection: async (peer: PeerId | unknown) => {
        const id = String(peer)
        this.dialed.push(id)
        this.open.add(id)
        return {} as Connection
      },
      getConnections: (peerId?: PeerId) => [...this.open]
        .filter(id => peerId == null || id === peerId.toString())
        .map(id => ({ status: 'open', remotePeer: this.byId.get(id)! }) as unknown as Connection)
    }
  }
}

describe('Redialer', () => {
  it('redials remembered members only while fewer than maxConnected are connected; bootstrap peers always', async () => {
    const [boot, ...others] = await peerIds(9)
    const conns = new Connections()
    for (const p of [boot, ...others]) conns.byId.set(p.toString(), p)
    const events = new EventTarget()
    const redialer = new Redialer({ connectionManager: conns.manager(), events: events as any }, {
      peers: [{ peerId: boot, addrs: [] }],
      maxConnected: 3,
      maxParallel: 16,
      intervalMs: 60_000
    })
    redialer.start()
    try {
      // eight members connected once (so they are remembered), then every link dropped
      for (const p of others) events.dispatchEvent(new CustomEvent('peer:connect', { detail: p }))
      expect(redialer.peers()).toHaveLength(9)
      await redialer.redialNow()
      // the bootstrap peer, and remembered ones up to the cap: 3 connected in all
      expect(conns.dialed[0]).toBe(boot.toString())
      expect(conns.dialed).toHaveLength(3)
      expect(conns.open.size).toBe(3)
      // at the cap nothing more is dialed
      await redialer.redialNow()
      expect(conns.dialed).toHaveLength(3)
      // the bootstrap link drops while the cap is full: it is dialed all the same
      conns.open.delete(boot.toString())
      conns.open.add(others[7].toString())
      await redialer.redialNow()
      expect(conns.dialed.at(-1)).toBe(boot.toString())
      expect(conns.dialed).toHaveLength(4)
    } finally {
      redialer.stop()
    }
  })
})
