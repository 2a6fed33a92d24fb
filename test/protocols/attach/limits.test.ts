import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  ATTACH_MAX_INPUT_CHUNK_BYTES, ATTACH_MAX_OUTPUT_CHUNK_BYTES, AttachService, attach, encodeClientFrame, encodeServerFrame, parseClientFrame, parseHello,
  parseServerFrame, tailOf
} from '../../../protocols/attach/index.js'
import { Outbox } from '../../../protocols/attach/outbox.js'
import { encodeCbor } from '../../../protocols/codec/cbor.js'
import { TestMesh } from '../net/helpers.js'
import { RawClient, RealJobs, Viewer } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { AttachServiceInit } from '../../../protocols/attach/index.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

describe('attach limits between two real nodes', () => {
  let mesh: TestMesh
  let server: MeshLibp2p
  let client: MeshLibp2p
  let jobs: RealJobs
  let service: AttachService | undefined

  beforeEach(async () => {
    mesh = new TestMesh()
    server = await mesh.node(await mesh.identity())
    client = await mesh.node(await mesh.identity())
    await client.dial(server.getMultiaddrs()[0])
    jobs = await RealJobs.create()
  })

  afterEach(async () => {
    await service?.stop()
    service = undefined
    await jobs.cleanup()
    await mesh.stop()
  })

  async function serve (init: AttachServiceInit = {}): Promise<AttachService> {
    service = new AttachService({ libp2p: server, jobs, authorize: () => ({ ok: true }) }, init)
    await service.start()
    return service
  }

  it('input beyond the rate is dropped and refused; the client paces itself so nothing of a long write is lost', async () => {
    await serve({ inputBytesPerSec: 2000, inputBurstBytes: 1000 })
    const job = jobs.start('echo ready; read -r a; echo "len:${#a}"; read -r b; echo "len:${#b}"')
    await jobs.printed(job.id, 'ready')
    const raw = await RawClient.open(client, server)
    raw.hello({ job: job.id, mode: 'rw', window: 1 << 20 })
    expect(await raw.reply()).toMatchObject({ ok: true, inputRate: 2000, inputBurst: 1000 })
    const bytes = (c: string, n: number): Uint8Array => new TextEncoder().encode(c.repeat(n))
    raw.frame({ type: 'input', data: bytes('a', 600) })
    raw.frame({ type: 'input', data: bytes('b', 600) }) // over the burst: dropped
    raw.frame({ type: 'input', data: bytes('\r', 1) })
    let frame
    do frame = await raw.next(); while (frame?.type !== 'refused')
    expect(frame).toEqual({ type: 'refused', what: 'input', code: 'ERR_RATE_LIMITED' })
    await jobs.printed(job.id, 'len:600')
    raw.stream.abort(new Error('test over'))

    const viewer = new Viewer(await attach(client, server.peerId, job.id, 'rw')).start()
    const started = Date.now()
    await viewer.session.write('c'.repeat(3000) + '\r')
    await viewer.waitForText('len:3000')
    // 3001 bytes at 80% of 2000 B/s after a 500-byte burst take well over a second
    expect(Date.now() - started).toBeGreaterThan(1000)
    expect(viewer.frames.some(f => f.type === 'refused')).toBe(false)
  })

  it('cuts off a client that grants more credit than allowed, and one that sends oversized frames', async () => {
    await serve({ maxWindowBytes: 1 << 20 })
    const job = jobs.start('echo ready; read x')
    const greedy = await RawClient.open(client, server)
    greedy.hello({ job: job.id, mode: 'ro', window: 1 << 19 })
    expect(await greedy.reply()).toMatchObject({ ok: true })
    greedy.frame({ type: 'credit', bytes: 1 << 20 })
    await waitFor(() => service!.stats().errors.ERR_WINDOW === 1, { what: 'the greedy session to be cut off' })

    const big = await RawClient.open(client, server)
    big.hello({ job: job.id, mode: 'rw', window: 65536 })
    expect(await big.reply()).toMatchObject({ ok: true })
    big.sendBytes(new Uint8Array(64 * 1024))
    await waitFor(() => service!.stats().errors.ERR_TOO_LARGE === 1, { what: 'the oversized frame to be refused' })
    expect(service!.stats().open).toBe(0)
    expect(jobs.running(job.id)).toBe(true)
  })
})

describe('attach messages and buffers', () => {
  it('refuses malformed frames with ERR_MALFORMED naming the problem', () => {
    const cbor = (v: unknown): Uint8Array => encodeCbor(v)
    expect(() => parseHello(cbor({ job: 'j', mode: 'rx', window: 1 }), 512)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED', message: expect.stringContaining('mode') }))
    expect(() => parseHello(cbor({ job: 'j', mode: 'ro', window: 1, cols: 80 }), 512)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED', message: expect.stringContaining('rows') }))
    expect(() => parseHello(cbor({ job: 'j', mode: 'ro', window: 1, extra: 1 }), 512)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => parseClientFrame(cbor({ type: 'input', data: new Uint8Array(0) }), 9000)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => parseClientFrame(cbor({ type: 'resize', cols: 1001, rows: 10 }), 9000)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED', message: expect.stringContaining('cols') }))
    expect(() => parseClientFrame(cbor({ type: 'shell' }), 9000)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => parseServerFrame(cbor({ type: 'refused', what: 'input', code: 'ERR_WHATEVER' }), 9000)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(parseServerFrame(cbor({ type: 'end', state: 'failed', exitCode: null }), 9000)).toEqual({ type: 'end', state: 'failed', exitCode: null })
  })

  it('keys and output are written byte for byte as the generic CBOR coder writes them, and read back whatever their size', () => {
    for (const n of [1, 23, 24, 255, 256, 4096, 32 * 1024, 70_000]) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff)
      const output = encodeServerFrame({ type: 'output', data })
      expect(Buffer.from(output).equals(Buffer.from(encodeCbor({ type: 'output', data })))).toBe(true)
      const input = encodeClientFrame({ type: 'input', data })
      expect(Buffer.from(input).equals(Buffer.from(encodeCbor({ type: 'input', data })))).toBe(true)
      if (n <= ATTACH_MAX_OUTPUT_CHUNK_BYTES) expect(parseServerFrame(output, 1 << 20)).toEqual({ type: 'output', data })
      else expect(() => parseServerFrame(output, 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
      if (n <= ATTACH_MAX_INPUT_CHUNK_BYTES) expect(parseClientFrame(input, 1 << 20)).toEqual({ type: 'input', data })
      else expect(() => parseClientFrame(input, 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    }
    // the same frames laid out otherwise are judged as before: a longer length header is not canonical,
    // trailing bytes are not a frame, another type's tail is that type's, a frame too large is refused unread
    const key = encodeClientFrame({ type: 'input', data: Uint8Array.from([120]) })
    const longHeader = Uint8Array.from([...key.subarray(0, 6), 0x58, 0x01, ...key.subarray(7)])
    expect(() => parseClientFrame(longHeader, 9000)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => parseClientFrame(Uint8Array.from([...key, 0]), 9000)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => parseServerFrame(key, 9000)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => parseClientFrame(key, 4)).toThrow(expect.objectContaining({ code: 'ERR_TOO_LARGE' }))
    expect(parseClientFrame(encodeCbor({ data: Uint8Array.from([1]), type: 'input' }), 9000)).toEqual({ type: 'input', data: Uint8Array.from([1]) })
  })

  it('an outbox drops everything past its bound, then resumes from a tail', () => {
    const box = new Outbox(10)
    expect(box.push(new Uint8Array(6))).toBe(true)
    expect(box.push(new Uint8Array(6))).toBe(false)
    expect([box.behind, box.size, box.dropped]).toEqual([true, 0, 12])
    box.push(new Uint8Array(3))
    expect(box.dropped).toBe(15)
    box.resume(Uint8Array.from([1, 2, 3, 4]))
    expect([box.behind, box.size, box.dropped, box.droppedTotal]).toEqual([false, 4, 0, 15])
    box.push(Uint8Array.from([5]))
    expect([...box.take(3)]).toEqual([1, 2, 3])
    expect([...box.take(10)]).toEqual([4, 5])
  })

  it('a scrollback tail starts after the first newline when it had to be cut', () => {
    const chunks = [Buffer.from('one\r\ntwo\r\n'), Buffer.from('three\r\nfour')]
    expect(Buffer.from(tailOf(chunks, 100, 8)).toString()).toBe('one\r\ntwo\r\nthree\r\nfour')
    expect(Buffer.from(tailOf(chunks, 14, 8)).toString()).toBe('three\r\nfour')
    expect(Buffer.from(tailOf(chunks, 4, 8)).toString()).toBe('four')
  })
})
