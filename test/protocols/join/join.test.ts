/**
 * The join protocol between two real libp2p nodes on 127.0.0.1: what an invite key sends, what it
 * gets back, and every way the exchange is refused. The enrollment's meaning (records, roles) is
 * the mesh's (tested with real daemons in test/cli and test/mesh); here `onEnroll` is the seam.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeCbor, encodeCbor } from '../../../protocols/codec/index.js'
import { JOIN_PROTOCOL, JoinRefusedError, JoinService, MAX_JOIN_ADDRS, MAX_JOIN_REQUEST_BYTES, requestJoin } from '../../../protocols/join/index.js'
import { encodeFrame } from '../../../protocols/codec/frames.js'
import { silentLogger } from '../../../store/logger.js'
import { addrOf, TestMesh } from '../net/helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { JoinReply } from '../../../protocols/join/index.js'
import type { Logger } from '../../../store/logger.js'

describe('join protocol', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  /** a member serving joins, and a joiner running under the invite key (or a key that is not one) */
  async function pair (onEnroll: (enroll: Uint8Array, from: string) => Promise<JoinReply>, options: { invite?: boolean, logger?: Logger } = {}) {
    const memberId = await mesh.identity()
    const joinerId = await mesh.identity()
    const member = await mesh.node(memberId)
    const joiner = await mesh.node(joinerId)
    const enrolled: Array<{ bytes: Uint8Array, from: string }> = []
    const service = new JoinService({
      libp2p: member,
      logger: options.logger ?? silentLogger,
      isInviteKey: peer => options.invite !== false && peer === joinerId.id,
      onEnroll: async (bytes, from) => { enrolled.push({ bytes, from }); return await onEnroll(bytes, from) }
    })
    await service.start()
    return { member, joiner, joinerId, service, enrolled, addr: multiaddr(addrOf(member)) }
  }

  it('an invite key hands over its enrollment and gets the mesh\'s records and at most MAX_JOIN_ADDRS addresses', async () => {
    const addrs = Array.from({ length: MAX_JOIN_ADDRS + 10 }, (_, i) => `/ip4/127.0.0.1/tcp/${10_000 + i}`)
    const { joiner, joinerId, enrolled, addr, service } = await pair(async () => ({ ok: true, records: [new Uint8Array([1, 2]), new Uint8Array([3])], addrs }))
    const enroll = encodeCbor({ hello: 'mesh' })
    const reply = await requestJoin(joiner, addr, enroll, { signal: AbortSignal.timeout(10_000) })
    expect(reply.ok).toBe(true)
    expect(reply.records.map(r => [...r])).toEqual([[1, 2], [3]])
    expect(reply.addrs).toEqual(addrs.slice(0, MAX_JOIN_ADDRS))
    expect(enrolled).toHaveLength(1)
    expect(enrolled[0].from).toBe(joinerId.id)
    expect(decodeCbor(enrolled[0].bytes, 1024)).toEqual({ hello: 'mesh' })
    // stop is idempotent, and a stopped member no longer speaks the protocol
    await service.stop()
    await service.stop()
    await expect(requestJoin(joiner, addr, enroll, { signal: AbortSignal.timeout(5000) })).rejects.toMatchObject({ name: 'UnsupportedProtocolError' })
  })

  it('a key that is not an invite is refused with not-an-invite, and its enrollment is never read', async () => {
    const { joiner, enrolled, addr } = await pair(async () => ({ ok: true, records: [], addrs: [] }), { invite: false })
    const err = await requestJoin(joiner, addr, encodeCbor({ x: 1 }), { signal: AbortSignal.timeout(10_000) }).catch(e => e)
    expect(err).toBeInstanceOf(JoinRefusedError)
    expect(err.code).toBe('ERR_JOIN_REFUSED')
    expect(err.reason).toBe('not-an-invite')
    expect(enrolled).toEqual([])
  })

  it('a refusal by the mesh reaches the joiner with its reason', async () => {
    const { joiner, addr } = await pair(async () => ({ ok: false, reason: 'invite-expired', records: [], addrs: [] }))
    const err = await requestJoin(joiner, addr, encodeCbor({ x: 1 }), { signal: AbortSignal.timeout(10_000) }).catch(e => e)
    expect(err).toBeInstanceOf(JoinRefusedError)
    expect(err.reason).toBe('invite-expired')
    expect(err.message).toContain('invite-expired')
  })

  it('an enrollment over the size limit is refused before it is buffered and never reaches onEnroll', async () => {
    const warned: string[] = []
    const logger = { ...silentLogger, warn: (msg: string) => { warned.push(msg) } } as Logger
    const { joiner, enrolled, addr } = await pair(async () => ({ ok: true, records: [], addrs: [] }), { logger })
    // the member resets the stream instead of reading on
    await expect(requestJoin(joiner, addr, new Uint8Array(MAX_JOIN_REQUEST_BYTES + 1), { signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ name: 'StreamResetError' })
    expect(enrolled).toEqual([])
    await waitFor(() => warned.includes('join session failed'), { timeoutMs: 5000, what: 'the refused session to be logged' })
  })

  it('a malformed reply is refused by the joiner with ERR_MALFORMED, naming what is wrong', async () => {
    const memberId = await mesh.identity()
    const joinerId = await mesh.identity()
    const member = await mesh.node(memberId)
    const joiner = await mesh.node(joinerId)
    const replies = [
      encodeCbor({ records: [] }),
      encodeCbor({ ok: true, records: ['not bytes'], addrs: [] }),
      encodeCbor({ ok: true, records: [], addrs: Array.from({ length: MAX_JOIN_ADDRS + 1 }, () => '/ip4/127.0.0.1/tcp/1') }),
      encodeCbor({ ok: false, reason: 'x'.repeat(201), records: [], addrs: [] })
    ]
    let next = 0
    await member.handle(JOIN_PROTOCOL, (stream) => {
      stream.send(encodeFrame(replies[next++]))
      void stream.close().catch(() => {})
    })
    const addr = multiaddr(addrOf(member))
    const messages: string[] = []
    for (let i = 0; i < replies.length; i++) {
      const err = await requestJoin(joiner, addr, encodeCbor({ x: 1 }), { signal: AbortSignal.timeout(10_000) }).catch(e => e)
      expect(err.code, String(err.message)).toBe('ERR_MALFORMED')
      messages.push(err.message)
    }
    expect(messages).toEqual([
      'join reply is not a map with ok',
      'join reply records are not byte strings',
      'join reply addrs are malformed',
      'join reply reason is malformed'
    ])
  })
})
