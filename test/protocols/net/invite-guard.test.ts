import { afterEach, describe, expect, it } from 'vitest'
import { guardInviteKeys } from '../../../protocols/net/index.js'
import { TestMesh } from './helpers.js'
import type { Stream } from '@libp2p/interface'

const ECHO = '/cit/test-echo/1.0.0'
const JOIN = '/cit/test-join/1.0.0'

/** send one line and read the answer (empty when the stream is refused) */
async function ask (stream: Stream, line: string): Promise<string> {
  stream.send(new TextEncoder().encode(line))
  let out = ''
  for await (const chunk of stream) out += new TextDecoder().decode(chunk.subarray())
  return out
}

describe('guardInviteKeys: an invite key speaks the join protocol only', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  it('members open every protocol, any number of streams, each handled once; an invite key only join, its other streams refused and counted', async () => {
    const inviteId = await mesh.identity(false)
    const a = await mesh.node(await mesh.identity(), { isAllowed: peer => mesh.members.has(peer) || peer === inviteId.id })
    let handled = 0
    for (const p of [ECHO, JOIN]) {
      await a.handle(p, async stream => {
        handled++
        let text = ''
        for await (const chunk of stream) { text += new TextDecoder().decode(chunk.subarray()); break }
        stream.send(new TextEncoder().encode(`${p}:${text}`))
        await stream.close()
      })
    }
    const refused: string[] = []
    guardInviteKeys(a, { isMember: peer => mesh.members.has(peer), open: [JOIN], onRefused: (_peer, protocol) => { refused.push(protocol) } })

    const member = await mesh.node(await mesh.identity())
    const invite = await mesh.node(inviteId, { isAllowed: () => true })
    const addr = a.getMultiaddrs()[0]
    // several streams in a row: a handler must run once per stream (libp2p would otherwise pile them up)
    for (let i = 0; i < 3; i++) expect(await ask(await member.dialProtocol(addr, ECHO), `m${i}`)).toBe(`${ECHO}:m${i}`)
    expect(handled).toBe(3)
    expect(await ask(await invite.dialProtocol(addr, JOIN), 'hello')).toBe(`${JOIN}:hello`)
    const echoed = await invite.dialProtocol(addr, ECHO).then(async s => await ask(s, 'sneak')).catch((err: any) => `refused ${String(err?.name)}`)
    expect(echoed).not.toContain('sneak')
    expect(refused).toContain(ECHO)
    expect(refused).toContain('/cit/id/1.0.0')
    expect(handled).toBe(4)
    // a's own streams to the invite key are refused too: it learns nothing from a
    await expect(a.dialProtocol(invite.peerId, '/cit/ping/1.0.0')).rejects.toThrow()
  })
})
