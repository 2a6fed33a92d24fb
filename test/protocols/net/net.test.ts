import { afterEach, describe, expect, it } from 'vitest'
import { createMeshLibp2p, disconnectDisallowed } from '../../../protocols/net/index.js'
import { addrOf, connected, knowsAddress, portOf, TestMesh } from './helpers.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'
import { waitFor } from '../../helpers/wait.js'

describe('mesh connection layer', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  it('connects two members, with identify and ping under the cit prefix', async () => {
    const a = await mesh.node(await mesh.identity())
    const b = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(a)] })
    await waitFor(() => connected(a, b) && connected(b, a), { what: 'a and b to connect' })
    expect(a.getProtocols()).toEqual(expect.arrayContaining(['/cit/id/1.0.0', '/cit/ping/1.0.0', '/cit/kad/1.0.0']))
    const rtt = await b.services.ping.ping(a.peerId)
    expect(rtt).toBeGreaterThanOrEqual(0)
  })

  it('refuses a non-member in both directions', async () => {
    const a = await mesh.node(await mesh.identity())
    const outsiderId = await mesh.identity(false)
    // the outsider itself would accept anyone: the refusal must come from a
    const outsider = await mesh.node(outsiderId, { isAllowed: () => true })

    const seenByA: string[] = []
    a.addEventListener('connection:open', (evt) => { seenByA.push(evt.detail.remotePeer.toString()) })

    // outbound, the outsider's side may finish its upgrade before a hangs up: either the dial
    // fails or the connection it got is closed and carries no protocol
    const conn = await outsider.dial(a.getMultiaddrs()[0]).catch(() => undefined)
    if (conn != null) {
      await waitFor(() => conn.status !== 'open', { what: 'the outsider\'s connection to close' })
      await expect(conn.newStream('/cit/ping/1.0.0')).rejects.toMatchObject({ name: expect.stringMatching(/^(ConnectionClosedError|StreamResetError|UnsupportedProtocolError|MuxerClosedError)$/) })
    }
    await expect(a.dial(outsider.getMultiaddrs()[0])).rejects.toMatchObject({ name: 'DialDeniedError' })
    await waitFor(() => outsider.getConnections(a.peerId).length === 0, { what: 'the outsider to be disconnected' })
    expect(a.getConnections(outsider.peerId)).toHaveLength(0)
    expect(seenByA).not.toContain(outsiderId.id)

    // membership is read at each connection: once admitted, the same peer gets in
    mesh.members.add(outsiderId.id)
    await outsider.dial(a.getMultiaddrs()[0])
    await waitFor(() => connected(a, outsider), { what: 'the new member to connect' })
  })

  it('disconnects peers whose membership was revoked', async () => {
    const a = await mesh.node(await mesh.identity())
    const bId = await mesh.identity()
    const b = await mesh.node(bId, { bootstrap: [addrOf(a)] })
    const c = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(a)] })
    await waitFor(() => connected(a, b) && connected(a, c), { what: 'b and c to connect to a' })

    mesh.members.delete(bId.id)
    const dropped = await disconnectDisallowed(a, (peer) => mesh.members.has(peer))
    expect(dropped).toEqual([bId.id])
    await waitFor(() => !connected(a, b) && !connected(b, a), { what: 'b to be disconnected' })
    expect(connected(a, c)).toBe(true)
    // b's redialer keeps trying; the gater keeps refusing
    const again = await b.dial(a.getMultiaddrs()[0]).catch(() => undefined)
    if (again != null) await waitFor(() => again.status !== 'open', { what: 'the revoked peer\'s new connection to close' })
    await waitFor(() => !connected(a, b), { what: 'a to hold no connection to b' })
  })

  it('passes DHT validators and selectors through, so a lease namespace works between peers', async () => {
    const seen: string[] = []
    const dhtValidators = {
      lease: async (key: Uint8Array, value: Uint8Array) => {
        seen.push(new TextDecoder().decode(value))
        if (new TextDecoder().decode(value).startsWith('bad')) throw new Error('bad lease')
      }
    }
    const dhtSelectors = { lease: () => 0 }
    const a = await mesh.node(await mesh.identity(), { dhtValidators, dhtSelectors })
    const b = await mesh.node(await mesh.identity(), { dhtValidators, dhtSelectors, bootstrap: [addrOf(a)] })
    // the routing table is on kad-dht's class, not on the interface it is typed as
    const tableSize = (n: MeshLibp2p): number => (n.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
    await waitFor(() => tableSize(a) > 0 && tableSize(b) > 0, { what: 'the peers to enter each other\'s routing table' })
    const key = new TextEncoder().encode('/lease/job-1')
    for await (const _ of a.services.dht.put(key, new TextEncoder().encode('holder-a'))) { /* drain */ }
    let value: string | undefined
    for await (const evt of b.services.dht.get(key)) {
      if (evt.name === 'VALUE') value = new TextDecoder().decode(evt.value)
    }
    expect(value).toBe('holder-a')
    expect(seen).toContain('holder-a')

    // a record the validator refuses is not stored by the peer nor accepted when read back
    const badKey = new TextEncoder().encode('/lease/job-2')
    for await (const _ of a.services.dht.put(badKey, new TextEncoder().encode('bad-holder'))) { /* drain */ }
    const found: string[] = []
    await (async () => {
      for await (const evt of b.services.dht.get(badKey)) if (evt.name === 'VALUE') found.push(new TextDecoder().decode(evt.value))
    })().catch(() => {})
    expect(found).toEqual([])
    expect(seen).toContain('bad-holder')
  })

  it('names every bad option', async () => {
    const id = await mesh.identity()
    const err = await createMeshLibp2p({
      privateKey: id.privateKey,
      listen: ['not an address'],
      bootstrap: ['/ip4/127.0.0.1/tcp/1234'],
      isAllowed: () => true
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_INVALID_OPTION' })
    const problems = (err as { problems: string[] }).problems
    expect(problems.some(p => p.startsWith('listen[0]'))).toBe(true)
    expect(problems.some(p => p.startsWith('bootstrap[0]') && p.includes('/p2p/'))).toBe(true)
  })

  it('redials after the other node restarts on the same port', async () => {
    const redial = { intervalMs: 100, backoffMinMs: 50, backoffMaxMs: 200 }
    const aId = await mesh.identity()
    const bId = await mesh.identity()
    let a = await mesh.node(aId, { redial })
    const aPort = portOf(a)
    const aAddr = addrOf(a)
    let b = await mesh.node(bId, { bootstrap: [aAddr], redial })
    await waitFor(() => connected(a, b), { what: 'first connection' })
    const bPort = portOf(b)

    // a restarts: b dials it again from its bootstrap list
    await a.stop()
    await waitFor(() => !connected(b, a), { what: 'b to notice a is gone' })
    a = await mesh.node(aId, { listen: [`/ip4/127.0.0.1/tcp/${aPort}`], redial })
    await waitFor(() => connected(a, b), { what: 'b to redial the restarted a' })
    // a learns where b listens through identify; only then can it dial b
    await waitFor(async () => await knowsAddress(a, b), { what: 'a to learn b\'s address' })

    // b restarts without a bootstrap list: a dials it again because it remembers b
    await b.stop()
    await waitFor(() => !connected(a, b), { what: 'a to notice b is gone' })
    b = await mesh.node(bId, { listen: [`/ip4/127.0.0.1/tcp/${bPort}`], redial })
    await waitFor(() => connected(b, a), { what: 'a to redial the restarted b' })
    expect(a.services.redialer.stats().dials).toBeGreaterThan(0)
    expect(a.services.redialer.peers()).toContain(bId.id)
  })
})
