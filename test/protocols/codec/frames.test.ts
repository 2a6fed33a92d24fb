import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../../../protocols/codec/errors.js'
import { FrameReader, NEVER_ABORTED, STREAM_ERRORS, abortReason, encodeFrame, encodeVarint, writeFrame } from '../../../protocols/codec/frames.js'
import { FETCH_ERRORS } from '../../../protocols/fetch/errors.js'
import { ATTACH_ERRORS } from '../../../protocols/attach/util.js'
import type { Chunk } from '../../../protocols/codec/frames.js'

/** chunks as a stream would yield them, optionally never ending */
function source (chunks: Uint8Array[], end = true): AsyncIterable<Uint8Array> {
  return {
    async * [Symbol.asyncIterator] () {
      yield * chunks
      if (!end) await new Promise(() => {})
    }
  }
}

const never = new AbortController().signal

describe('codec frames', () => {
  it('reads frames split across chunks and several frames in one chunk', async () => {
    const big = new Uint8Array(300).fill(7)
    const bytes = new Uint8Array([...encodeFrame(big), ...encodeFrame(Uint8Array.of(1, 2)), ...encodeFrame(new Uint8Array(0))])
    const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2, 100), bytes.subarray(100)]
    const reader = new FrameReader(source(chunks))
    expect(await reader.read(1024, 1000, never)).toEqual(big)
    expect(await reader.read(1024, 1000, never)).toEqual(Uint8Array.of(1, 2))
    expect(await reader.read(1024, 1000, never)).toEqual(new Uint8Array(0))
    expect(await reader.read(1024, 1000, never)).toBeUndefined()
  })

  it('writes each length prefix as encodeVarint does, at every prefix size', () => {
    for (const n of [0, 1, 127, 128, 300, 16_383, 16_384, 70_000, 2_097_151, 2_097_152]) {
      const frame = encodeFrame(new Uint8Array(n).fill(3))
      const prefix = encodeVarint(n)
      expect(Buffer.from(frame.subarray(0, prefix.byteLength)).equals(Buffer.from(prefix))).toBe(true)
      expect(frame.byteLength).toBe(prefix.byteLength + n)
    }
  })

  it('a read with no deadline and NEVER_ABORTED waits for the stream alone and still reports its end and its failure', async () => {
    const bytes = new Uint8Array([...encodeFrame(Uint8Array.of(1)), ...encodeFrame(Uint8Array.of(2, 3))])
    const reader = new FrameReader(source([bytes.subarray(0, 3), bytes.subarray(3)]))
    expect(await reader.read(16, Infinity, NEVER_ABORTED)).toEqual(Uint8Array.of(1))
    expect(await reader.read(16, Infinity, NEVER_ABORTED)).toEqual(Uint8Array.of(2, 3))
    expect(await reader.read(16, Infinity, NEVER_ABORTED)).toBeUndefined()
    const broken = new FrameReader({ async * [Symbol.asyncIterator] () { yield Uint8Array.of(5); throw new Error('reset') } })
    await expect(broken.read(16, Infinity, NEVER_ABORTED)).rejects.toMatchObject({ code: 'ERR_RESET' })
  })

  it('accepts Uint8ArrayList-like chunks', async () => {
    const frame = encodeFrame(Uint8Array.of(9, 9))
    const reader = new FrameReader({ async * [Symbol.asyncIterator] () { yield { subarray: () => frame } } })
    expect(await reader.read(16, 1000, never)).toEqual(Uint8Array.of(9, 9))
  })

  it('refuses a frame over the limit from its prefix alone', async () => {
    const reader = new FrameReader(source([encodeVarint(2000)], false))
    await expect(reader.read(1024, 5000, never)).rejects.toMatchObject({ code: 'ERR_TOO_LARGE' })
  })

  it('refuses an overlong prefix, a truncated frame, and a silent peer', async () => {
    await expect(new FrameReader(source([Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x01)])).read(1024, 1000, never))
      .rejects.toMatchObject({ code: 'ERR_MALFORMED' })
    await expect(new FrameReader(source([encodeFrame(new Uint8Array(10)).subarray(0, 5)])).read(1024, 1000, never))
      .rejects.toMatchObject({ code: 'ERR_MALFORMED' })
    await expect(new FrameReader(source([], false)).read(1024, 50, never)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
    const controller = new AbortController()
    const pending = new FrameReader(source([], false)).read(1024, 5000, controller.signal)
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('sees an end of stream that came before the first read (the reader listens from the start)', async () => {
    // like a libp2p stream: its iterator only hears an end that happens while a next() is pending
    let ended = false
    let onEnd: (() => void) | undefined
    const stream: AsyncIterable<Chunk> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => await new Promise<IteratorResult<Chunk>>(resolve => {
          if (ended) return
          onEnd = () => { resolve({ done: true, value: undefined }) }
        })
      })
    }
    const reader = new FrameReader(stream)
    ended = true
    onEnd?.()
    expect(await reader.read(1024, 2000, never)).toBeUndefined()
  })

  it('waits without a deadline when told Infinity (no 1 ms timer)', async () => {
    const frame = encodeFrame(Uint8Array.of(5))
    const late: AsyncIterable<Uint8Array> = {
      async * [Symbol.asyncIterator] () {
        await new Promise(resolve => setTimeout(resolve, 30))
        yield frame
      }
    }
    expect(await new FrameReader(late).read(16, Infinity, never)).toEqual(Uint8Array.of(5))
  })

  it('reads raw bytes after a frame, up to the asked length', async () => {
    const reader = new FrameReader(source([new Uint8Array([...encodeFrame(Uint8Array.of(1)), 10, 11, 12])]))
    expect(await reader.read(16, 1000, never)).toEqual(Uint8Array.of(1))
    expect(await reader.bytes(2, 1000, never)).toEqual(Uint8Array.of(10, 11))
    expect(await reader.bytes(10, 1000, never)).toEqual(Uint8Array.of(12))
    expect(await reader.bytes(10, 1000, never)).toBeUndefined()
  })

  it('turns a stream that fails under a read into the protocol\'s reset error', async () => {
    const failing: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({ next: async () => { throw new Error('stream reset') } })
    }
    await expect(new FrameReader(failing).read(16, 1000, never)).rejects.toMatchObject({ code: 'ERR_RESET' })
    await expect(new FrameReader(failing, FETCH_ERRORS).read(16, 1000, never)).rejects.toMatchObject({ code: 'ERR_RESET', name: 'FetchResetError' })
    await expect(new FrameReader(failing, ATTACH_ERRORS).read(16, 1000, never)).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    await expect(new FrameReader(source([], false), FETCH_ERRORS).read(16, 20, never)).rejects.toMatchObject({ code: 'ERR_TIMEOUT', name: 'FetchTimeoutError' })
  })

  it('writes a frame, waits for a drain, and types a closed stream and a cancel', async () => {
    const sent: Uint8Array[] = []
    let drained = 0
    const sink = { send: (d: Uint8Array) => { sent.push(d); return sent.length > 1 }, onDrain: async () => { drained++ } }
    await writeFrame(sink, Uint8Array.of(7, 8), never)
    expect(sent[0]).toEqual(Uint8Array.of(2, 7, 8))
    expect(drained).toBe(1)
    const closed = { send: () => { throw new Error('closed') }, onDrain: async () => {} }
    await expect(writeFrame(closed, Uint8Array.of(1), never)).rejects.toMatchObject({ code: 'ERR_RESET' })
    await expect(writeFrame(closed, Uint8Array.of(1), never, ATTACH_ERRORS)).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    const stuck = { send: () => false, onDrain: async () => { throw new Error('reset while draining') } }
    await expect(writeFrame(stuck, Uint8Array.of(1), never, FETCH_ERRORS)).rejects.toMatchObject({ code: 'ERR_RESET' })
    const cancelled = new AbortController()
    cancelled.abort()
    await expect(writeFrame(sink, Uint8Array.of(1), cancelled.signal)).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('abortReason keeps a typed reason and words an untyped one', () => {
    const typed = new AbortController()
    typed.abort(new ProtocolError('ERR_TIMEOUT', 'session deadline'))
    expect(abortReason(typed.signal)).toMatchObject({ code: 'ERR_TIMEOUT' })
    const plain = new AbortController()
    plain.abort()
    expect(abortReason(plain.signal, STREAM_ERRORS.aborted)).toMatchObject({ code: 'ERR_ABORTED' })
    expect(abortReason(plain.signal, FETCH_ERRORS.aborted)).toMatchObject({ code: 'ERR_ABORTED', name: 'FetchAbortedError' })
  })
})
