import { afterEach, describe, expect, it } from 'vitest'
import { addrOf, connected, TestMesh } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

/** more than gossipsub's largest topic mesh (Dhi = 12): flood publishing would reach every one */
const LEAVES = 14
const TOPIC = '/cit/test/fanout/1'

describe('gossip fan-out', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  it('a publish goes to the topic mesh, not to every subscriber, and still reaches all of them', async () => {
    const hub = await mesh.node(await mesh.identity())
    hub.services.pubsub.subscribe(TOPIC)
    const leaves: MeshLibp2p[] = []
    const heard = new Set<string>()
    for (let i = 0; i < LEAVES; i++) {
      const leaf = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(hub)] })
      leaf.services.pubsub.subscribe(TOPIC)
      leaf.services.pubsub.addEventListener('message', (evt) => {
        if (evt.detail.topic === TOPIC) heard.add(leaf.peerId.toString())
      })
      leaves.push(leaf)
    }
    await waitFor(() => leaves.every(l => connected(hub, l)), { what: 'every leaf to connect to the hub', timeoutMs: 30_000 })
    await waitFor(() => hub.services.pubsub.getSubscribers(TOPIC).length === LEAVES, { what: 'the hub to see every subscription', timeoutMs: 30_000 })
    // the topic mesh forms on gossipsub's heartbeat (1 s); with every leaf grafted it is pruned to D
    // the topic mesh is on gossipsub's class, not on the interface it is typed as
    const meshPeers = (): number => (hub.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(TOPIC).length
    await waitFor(() => meshPeers() > 0, { what: 'the hub\'s topic mesh', timeoutMs: 30_000 })

    const { recipients } = await hub.services.pubsub.publish(TOPIC, new TextEncoder().encode('one message'))
    expect(recipients.length).toBeGreaterThan(0)
    expect(recipients.length).toBeLessThan(LEAVES)
    // the leaves outside the hub's topic mesh hear of it by gossip (IHAVE, then IWANT)
    await waitFor(() => heard.size === LEAVES, { what: 'every leaf to receive the message', timeoutMs: 30_000 })
  })
})
