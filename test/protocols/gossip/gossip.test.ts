import { afterEach, describe, expect, it } from 'vitest'
import { decodeCbor, encodeCbor, open, seal } from '../../../protocols/codec/index.js'
import { GossipChannel } from '../../../protocols/gossip/index.js'
import { addrOf, connected, TestMesh } from '../net/helpers.js'
import type { Identity, Signed } from '../../../protocols/codec/index.js'
import type { GossipVerdict } from '../../../protocols/gossip/index.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'
import { waitFor } from '../../helpers/wait.js'

const TOPIC = 'cit/test/1'

/** what the daemon does: verify the envelope, name the failure by its code */
function verifyEnvelope (bytes: Uint8Array): GossipVerdict<Signed<unknown>> {
  try {
    return { ok: true, value: open(bytes) }
  } catch (err) {
    return { ok: false, reason: (err as { code?: string }).code ?? 'invalid' }
  }
}

interface Node {
  libp2p: MeshLibp2p
  channel: GossipChannel<Signed<unknown>>
  got: Array<{ value: Signed<unknown>, from: string }>
}

function join (libp2p: MeshLibp2p, maxBytes?: number, validate = verifyEnvelope): Node {
  const got: Node['got'] = []
  const channel = new GossipChannel<Signed<unknown>>({ pubsub: libp2p.services.pubsub }, {
    topic: TOPIC,
    maxBytes,
    validate,
    onMessage: (value, from) => { got.push({ value, from }) }
  })
  channel.start()
  return { libp2p, channel, got }
}

/** gossipsub forwards along its mesh, which forms on heartbeats: wait for it instead of sleeping */
async function waitForMesh (node: MeshLibp2p, peers: MeshLibp2p[]): Promise<void> {
  // getMeshPeers is on gossipsub's class, not on the interface it is typed as
  const pubsub = node.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }
  await waitFor(() => peers.every(p => pubsub.getMeshPeers(TOPIC).includes(p.peerId.toString())), { what: 'the gossip mesh to form' })
}

describe('gossip channel', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  /** a - b - c in a line: a and c refuse each other, so whatever c gets went through b */
  async function line (maxBytes?: number, validateB?: typeof verifyEnvelope): Promise<{ a: Node, b: Node, c: Node, aId: Identity }> {
    const [aId, bId, cId] = [await mesh.identity(), await mesh.identity(), await mesh.identity()]
    const b = await mesh.node(bId)
    const a = await mesh.node(aId, { bootstrap: [addrOf(b)], isAllowed: (p) => p === bId.id })
    const c = await mesh.node(cId, { bootstrap: [addrOf(b)], isAllowed: (p) => p === bId.id })
    await waitFor(() => connected(a, b) && connected(c, b), { what: 'the line to connect' })
    const nodes = { a: join(a), b: join(b, maxBytes, validateB), c: join(c, maxBytes), aId }
    await waitForMesh(b, [a, c])
    await waitForMesh(c, [b])
    return nodes
  }

  it('delivers a message across three nodes, once, with its signer', async () => {
    const { a, b, c, aId } = await line()
    const env = seal(aId, 'job', { name: 'build', n: 1 })
    expect(await a.channel.publish(env.bytes)).toBe(1)
    await waitFor(() => c.got.length === 1, { what: 'c to receive the message' })
    expect(c.got[0].value.hash).toBe(env.hash)
    expect(c.got[0].value.payload).toEqual({ name: 'build', n: 1 })
    // gossipsub messages are unsigned: the envelope's signature names who made it
    expect(c.got[0].value.signer).toBe(aId.id)
    expect(b.got).toHaveLength(1)

    // the same envelope is one message, whoever publishes it again
    expect(await c.channel.publish(env.bytes)).toBe(0)
    expect(await a.channel.publish(env.bytes)).toBe(0)
    const marker = seal(aId, 'job', { name: 'marker' })
    await a.channel.publish(marker.bytes)
    await waitFor(() => c.got.length === 2, { what: 'the marker' })
    expect(b.got.map(g => g.value.hash)).toEqual([env.hash, marker.hash])
    expect(b.channel.stats()).toMatchObject({ accepted: 2, dropped: {} })
    expect(a.channel.stats().published).toBe(2)
  })

  it('drops oversized and invalid messages, counts them and does not forward them', async () => {
    const { a, b, c, aId } = await line(1024)
    // a's own channel accepts large messages: the limit that matters is the receivers'
    const big = seal(aId, 'job', { blob: new Uint8Array(4096) })
    const envelope = decodeCbor(seal(aId, 'job', { n: 1 }).bytes, 1024) as { s: Uint8Array }
    envelope.s[0] ^= 0xff
    const forged = encodeCbor(envelope)
    const garbage = new TextEncoder().encode('not cbor at all')
    for (const bytes of [big.bytes, forged, garbage]) expect(await a.channel.publish(bytes)).toBe(1)

    const marker = seal(aId, 'job', { name: 'marker' })
    await a.channel.publish(marker.bytes)
    await waitFor(() => c.got.length === 1, { what: 'the marker to reach c' })
    await waitFor(() => b.channel.stats().received === 4, { what: 'b to judge all four' })
    expect(b.got.map(g => g.value.hash)).toEqual([marker.hash])
    expect(b.channel.stats()).toEqual({
      received: 4,
      accepted: 1,
      published: 0,
      notForwarded: 0,
      dropped: { 'too-large': 1, ERR_BAD_SIGNATURE: 1, ERR_MALFORMED: 1 }
    })
    // c saw only the marker: b forwarded none of the rejected messages
    expect(c.channel.stats()).toMatchObject({ received: 1, accepted: 1, dropped: {} })
    await expect(b.channel.publish(big.bytes)).rejects.toMatchObject({ code: 'ERR_TOO_LARGE' })
  })

  it('delivers but does not forward a message its validator says needs no forwarding', async () => {
    // b keeps what it is told every subscriber already has (`forward: false`) to itself
    const { a, b, c, aId } = await line(undefined, (bytes) => {
      const v = verifyEnvelope(bytes)
      return v.ok && (v.value.payload as { direct?: boolean }).direct === true ? { ...v, forward: false } : v
    })
    const direct = seal(aId, 'load', { direct: true })
    const marker = seal(aId, 'load', { name: 'marker' })
    expect(await a.channel.publish(direct.bytes)).toBe(1)
    await waitFor(() => b.got.length === 1, { what: 'b to receive the first message' })
    expect(await a.channel.publish(marker.bytes)).toBe(1)
    await waitFor(() => c.got.length === 1, { what: 'the marker to reach c through b' })
    // b delivered both; c, which hears a only through b, got the marker alone (b forwards on one
    // stream to c, in order: a forwarded first message would have come before the marker)
    expect(b.got.map(g => g.value.hash)).toEqual([direct.hash, marker.hash])
    expect(b.channel.stats()).toMatchObject({ received: 2, accepted: 2, notForwarded: 1, dropped: {} })
    expect(c.got.map(g => g.value.hash)).toEqual([marker.hash])
    expect(c.channel.stats().received).toBe(1)
  })

  it('a non-member cannot publish into the mesh', async () => {
    const aId = await mesh.identity()
    const bId = await mesh.identity()
    const outsiderId = await mesh.identity(false)
    const a = join(await mesh.node(aId))
    const b = join(await mesh.node(bId, { bootstrap: [addrOf(a.libp2p)] }))
    const outsider = join(await mesh.node(outsiderId, { bootstrap: [addrOf(a.libp2p)], isAllowed: () => true }))
    await waitFor(() => connected(a.libp2p, b.libp2p), { what: 'a and b to connect' })
    await waitForMesh(a.libp2p, [b.libp2p])
    // the outsider may try as often as it likes
    await outsider.libp2p.dial(a.libp2p.getMultiaddrs()[0]).catch(() => {})
    await outsider.libp2p.dial(b.libp2p.getMultiaddrs()[0]).catch(() => {})

    expect(await outsider.channel.publish(seal(outsiderId, 'job', { evil: true }).bytes)).toBe(0)
    const marker = seal(bId, 'job', { name: 'marker' })
    expect(await b.channel.publish(marker.bytes)).toBe(1)
    await waitFor(() => a.got.length === 1, { what: 'the marker' })
    expect(a.got[0].value.hash).toBe(marker.hash)
    expect(a.channel.stats().received).toBe(1)
    expect(a.libp2p.services.pubsub.getSubscribers(TOPIC).map(String)).not.toContain(outsiderId.id)
  })

  it('counts ignored messages and validator crashes by reason, and delivers the rest', async () => {
    const aId = await mesh.identity()
    const a = join(await mesh.node(aId))
    const bLibp2p = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(a.libp2p)] })
    const got: unknown[] = []
    const b = new GossipChannel<unknown>({ pubsub: bLibp2p.services.pubsub }, {
      topic: TOPIC,
      validate: (bytes) => {
        const payload = open(bytes).payload as { kind: string }
        if (payload.kind === 'crash') throw new Error('validator bug')
        if (payload.kind === 'later') return { ok: false, reason: 'unknown-signer', ignore: true }
        return { ok: true, value: payload }
      },
      onMessage: (value) => { got.push(value); if (got.length === 1) throw new Error('handler bug') }
    })
    b.start()
    await waitFor(() => connected(a.libp2p, bLibp2p), { what: 'a and b to connect' })
    await waitForMesh(a.libp2p, [bLibp2p])
    for (const kind of ['crash', 'later', 'ok', 'ok2']) expect(await a.channel.publish(seal(aId, 'job', { kind }).bytes)).toBe(1)
    await waitFor(() => got.length === 2, { what: 'the two good messages' })
    expect(got).toEqual([{ kind: 'ok' }, { kind: 'ok2' }])
    expect(b.stats()).toMatchObject({ received: 4, accepted: 2, dropped: { 'validator-error': 1, 'unknown-signer': 1 } })
    b.stop()
  })

  it('publishes to nobody when no peer is subscribed; start and stop are idempotent', async () => {
    const id = await mesh.identity()
    const node = await mesh.node(id)
    const channel = new GossipChannel({ pubsub: node.services.pubsub }, { topic: TOPIC, validate: verifyEnvelope })
    await expect(channel.publish(seal(id, 'job', {}).bytes)).rejects.toMatchObject({ code: 'ERR_NOT_STARTED' })
    channel.start()
    channel.start()
    expect(node.services.pubsub.getTopics()).toEqual([TOPIC])
    expect(await channel.publish(seal(id, 'job', { n: 2 }).bytes)).toBe(0)
    const other = new GossipChannel({ pubsub: node.services.pubsub }, { topic: TOPIC, validate: verifyEnvelope })
    expect(() => { other.start() }).toThrow(expect.objectContaining({ code: 'ERR_TOPIC_IN_USE' }))
    channel.stop()
    channel.stop()
    expect(node.services.pubsub.getTopics()).toEqual([])
    expect(node.services.pubsub.topicValidators.has(TOPIC)).toBe(false)
  })
})
