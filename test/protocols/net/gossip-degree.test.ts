import { afterEach, describe, expect, it } from 'vitest'
import { addrOf, connected, TestMesh } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'
import { GOSSIP_DHI } from '../../../protocols/net/constants.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

const TOPIC = '/cit/test/degree/1'

/** `node`'s topic mesh for TOPIC (gossipsub's implementation has it; its public interface does not) */
function meshPeers (node: MeshLibp2p): string[] {
  return (node.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(TOPIC)
}

/** subscribe `node` to TOPIC; the returned set fills with the messages it receives */
function listen (node: MeshLibp2p): Set<string> {
  const heard = new Set<string>()
  node.services.pubsub.subscribe(TOPIC)
  node.services.pubsub.addEventListener('message', (evt) => {
    if (evt.detail.topic === TOPIC) heard.add(new TextDecoder().decode(evt.detail.data))
  })
  return heard
}

describe('gossip topic mesh degree', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  it('a fully connected mesh keeps each topic mesh at most GOSSIP_DHI peers, and a publish still reaches everyone', async () => {
    // 7 nodes, each connected to all the others: with gossipsub's defaults (D 6, Dhi 12) every
    // node would keep all 6 others in its topic mesh and receive every message 7 times
    const nodes: MeshLibp2p[] = []
    for (let i = 0; i < 7; i++) {
      nodes.push(await mesh.node(await mesh.identity(), { bootstrap: nodes.map(addrOf) }))
    }
    const heard = nodes.map(listen)
    await waitFor(() => nodes.every(a => nodes.every(b => a === b || connected(a, b))), { what: 'every node to connect to every other', timeoutMs: 30_000 })
    await waitFor(() => nodes.every(n => n.services.pubsub.getSubscribers(TOPIC).length === nodes.length - 1), { what: 'every subscription to be seen', timeoutMs: 30_000 })
    // the topic meshes form and settle on gossipsub's heartbeat (1 s): grafts, then a prune above Dhi
    await waitFor(() => nodes.every(n => {
      const size = meshPeers(n).length
      return size > 0 && size <= GOSSIP_DHI
    }), { what: `every topic mesh to hold 1 to ${GOSSIP_DHI} peers`, timeoutMs: 30_000 })

    for (const [i, n] of nodes.entries()) {
      const { recipients } = await n.services.pubsub.publish(TOPIC, new TextEncoder().encode(`from ${i}`))
      // flood publishing: the publisher itself sends to every subscriber, whatever its topic mesh
      expect(recipients.length).toBe(nodes.length - 1)
    }
    await waitFor(() => heard.every((h, i) => h.size === nodes.length - 1 && !h.has(`from ${i}`)), { what: 'every message at every other node' })
  })

  it('a member the publisher is not connected to hears a message through the topic meshes of the others', async () => {
    // a line a - b - c - d - e: each node admits only its neighbours, so a's publish reaches e
    // only by forwarding, three hops away
    const ids = await Promise.all([0, 1, 2, 3, 4].map(async () => await mesh.identity()))
    const nodes: MeshLibp2p[] = []
    for (let i = 0; i < ids.length; i++) {
      const neighbours = new Set([ids[i - 1]?.id, ids[i + 1]?.id].filter((x): x is string => x != null))
      nodes.push(await mesh.node(ids[i], { bootstrap: i > 0 ? [addrOf(nodes[i - 1])] : [], isAllowed: peer => neighbours.has(peer) }))
    }
    const heard = nodes.map(listen)
    await waitFor(() => nodes.every((n, i) => i === 0 || connected(n, nodes[i - 1])), { what: 'the line to connect', timeoutMs: 30_000 })
    expect(connected(nodes[0], nodes[4])).toBe(false)
    await waitFor(() => nodes.every((n, i) => meshPeers(n).length === (i === 0 || i === nodes.length - 1 ? 1 : 2)), { what: 'each node to graft its neighbours', timeoutMs: 30_000 })

    await nodes[0].services.pubsub.publish(TOPIC, new TextEncoder().encode('end to end'))
    await waitFor(() => heard.slice(1).every(h => h.has('end to end')), { what: 'every node of the line to receive the message' })
  })

  it('runs no yamux keepalive: the connection monitor is what finds dead connections', async () => {
    const b = await mesh.node(await mesh.identity())
    const a = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(b)] })
    await waitFor(() => connected(a, b), { what: 'a and b to connect' })
    for (const conn of [...a.getConnections(b.peerId), ...b.getConnections(a.peerId)]) {
      // yamux keeps its keepalive task here when enabled (and pings at once to measure the round trip)
      const muxer = (conn as unknown as { muxer?: { enableKeepAlive?: boolean, keepAlive?: unknown } }).muxer
      expect(muxer).toBeDefined()
      expect(muxer?.enableKeepAlive).toBe(false)
      expect(muxer?.keepAlive).toBeUndefined()
    }
  })
})
