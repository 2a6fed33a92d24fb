import { afterEach, describe, expect, it } from 'vitest'
import { connected, TestMesh } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

/** members dialling one node from the same address at the same moment */
const MEMBERS = 12

describe('inbound connection rate', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  it('lets a dozen members on one host connect to a node at once', async () => {
    const hub = await mesh.node(await mesh.identity())
    const members: MeshLibp2p[] = []
    for (let i = 0; i < MEMBERS; i++) members.push(await mesh.node(await mesh.identity()))
    // every dial comes from 127.0.0.1 within the same second: libp2p's default refused all but five
    const results = await Promise.allSettled(members.map(async m => await m.dial(hub.getMultiaddrs()[0], { signal: AbortSignal.timeout(20_000) })))
    const refused = results.flatMap((r, i) => r.status === 'rejected' ? [`member ${i}: ${String(r.reason)}`] : [])
    expect(refused).toEqual([])
    await waitFor(() => members.every(m => connected(hub, m)), { what: 'the hub to hold a connection to every member' })
    expect(hub.getPeers()).toHaveLength(MEMBERS)
  })
})
