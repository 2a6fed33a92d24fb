import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import { useQuietLengthPrefixes, wireTuning } from '../../../protocols/net/index.js'
import { addrOf, connected, TestMesh } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

/** write system calls this process has made so far (each test file runs in a process of its own) */
function writeCalls (): number {
  const m = /^syscw:\s+(\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))
  if (m == null) throw new Error('no syscw in /proc/self/io')
  return Number(m[1])
}

const ECHO = '/cit-test/echo/1.0.0'
const SINK = '/cit-test/sink/1.0.0'

async function pair (mesh: TestMesh): Promise<[MeshLibp2p, MeshLibp2p]> {
  const b = await mesh.node(await mesh.identity())
  const a = await mesh.node(await mesh.identity(), { bootstrap: [addrOf(b)] })
  await waitFor(() => connected(a, b) && connected(b, a), { what: 'a and b to connect' })
  return [a, b]
}

describe('socket writes per message', () => {
  const mesh = new TestMesh()
  afterEach(async () => { await mesh.stop() })

  it('a small request and its answer take one socket write each way', async () => {
    const [a, b] = await pair(mesh)
    await b.handle(ECHO, (stream) => {
      stream.addEventListener('message', (evt) => { stream.send(evt.data) })
    })
    const stream = await a.dialProtocol(b.peerId, ECHO)
    const message = randomBytes(300)
    const echo = async (): Promise<void> => {
      const got = new Promise<void>((resolve) => { stream.addEventListener('message', () => { resolve() }, { once: true }) })
      stream.send(message)
      await got
    }
    await echo() // the stream is open and acknowledged before counting
    const rounds = 400
    const before = writeCalls()
    for (let i = 0; i < rounds; i++) await echo()
    const perRound = (writeCalls() - before) / rounds
    // one yamux data frame each way. Before: each frame was two writes (Noise's length prefix and
    // its ciphertext, written apart) and each was answered by a window update, also two: 8
    expect(perRound).toBeLessThan(3)
    expect(wireTuning()).toEqual({ corkedTcp: true, halfWindowUpdates: true, quietLengthPrefixes: true })
    await stream.close()
  })

  it('a transfer many times the receive window arrives whole: credit is still granted in time', async () => {
    const [a, b] = await pair(mesh)
    const received = createHash('sha256')
    let bytes = 0
    const done = Promise.withResolvers<void>()
    await b.handle(SINK, (stream) => {
      stream.addEventListener('message', (evt) => {
        const chunk = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
        received.update(chunk)
        bytes += chunk.byteLength
      })
      stream.addEventListener('remoteCloseWrite', () => { done.resolve() })
    })
    const stream = await a.dialProtocol(b.peerId, SINK)
    const sent = createHash('sha256')
    const chunk = 64 * 1024
    const total = 16 * 1024 * 1024 // 64 × yamux's initial 256 KiB window
    for (let offset = 0; offset < total; offset += chunk) {
      const data = randomBytes(chunk)
      sent.update(data)
      if (!stream.send(data)) await new Promise<void>((resolve) => { stream.addEventListener('drain', () => { resolve() }, { once: true }) })
    }
    await stream.close()
    await done.promise
    expect(bytes).toBe(total)
    expect(received.digest('hex')).toBe(sent.digest('hex'))
  })
})

describe('length-prefixed decoders', () => {
  /** Noise's length decoder: a 2-byte big-endian length, RangeError while fewer than 2 bytes are buffered */
  const uint16 = (data: Uint8ArrayList): number => {
    if (data.byteLength < 2) throw new RangeError('Could not decode int16BE')
    return data.getUint16(0)
  }
  const frame = (payload: Uint8Array): Uint8Array => {
    const out = new Uint8Array(2 + payload.byteLength)
    new DataView(out.buffer).setUint16(0, payload.byteLength)
    out.set(payload, 2)
    return out
  }

  /** run `fn` counting the RangeErrors constructed meanwhile */
  function countingRangeErrors <T> (fn: () => T): { value: T, made: number } {
    const original = globalThis.RangeError
    let made = 0
    globalThis.RangeError = new Proxy(original, { construct (target, args) { made++; return Reflect.construct(target, args) } })
    try {
      return { value: fn(), made }
    } finally {
      globalThis.RangeError = original
    }
  }

  it('decode every frame, whole, split inside the prefix or the payload, and build no Error when the buffer runs out', () => {
    useQuietLengthPrefixes()
    expect(wireTuning().quietLengthPrefixes).toBe(true)
    const decoder = new LengthPrefixedDecoder({ lengthDecoder: uint16, encodingLength: () => 2 })
    const payloads = [randomBytes(1), randomBytes(300), randomBytes(5), randomBytes(65535)]
    const bytes = Buffer.concat(payloads.map(frame))
    const got: Buffer[] = []
    // one chunk holding two whole frames, then the prefix of the third cut after its first byte,
    // then the rest of it and the fourth cut inside its payload, then the rest
    const cuts = [2 + 1 + 2 + 300, 2 + 1 + 2 + 300 + 1, 2 + 1 + 2 + 300 + 2 + 5 + 2 + 1000, bytes.byteLength]
    let made = 0
    let from = 0
    for (const to of cuts) {
      const r = countingRangeErrors(() => [...decoder.decode(bytes.subarray(from, to))])
      for (const list of r.value) got.push(Buffer.from(list.subarray()))
      made += r.made
      from = to
    }
    expect(got.map(b => b.toString('hex'))).toEqual(payloads.map(b => b.toString('hex')))
    // only the cut after the prefix's first byte needs the length decoder's own error: the
    // three chunks that ended on a frame's end (empty buffer) build none
    expect(made).toBe(1)
  })
})
