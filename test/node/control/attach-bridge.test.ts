import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { connect } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openBridge } from '../../../cli/attach/bridge.js'
import { serveAttachBridge } from '../../../node/control/attach-bridge.js'
import { BridgeFrameDecoder, controlFrame, dataFrame, onBridgeFrames } from '../../../node/control/bridge-frames.js'
import { silentLogger } from '../../../store/logger.js'
import { waitFor } from '../../helpers/wait.js'
import type { Server } from 'node:http'
import type { AttachFrame } from '../../../protocols/attach/types.js'
import type { ControlHandlers } from '../../../node/control/types.js'

describe('attach bridge frames', () => {
  it('cuts a byte stream into frames however it arrives, keys and output as raw bytes', () => {
    const stream = Buffer.concat([dataFrame(Buffer.from([0, 1, 255, 10])), controlFrame({ t: 'resize', cols: 80, rows: 24 }), dataFrame(Buffer.alloc(0))])
    const decoder = new BridgeFrameDecoder(1024)
    const frames = [...stream].flatMap(byte => decoder.push(Buffer.from([byte])))
    expect(frames).toEqual([
      { kind: 'data', data: Buffer.from([0, 1, 255, 10]) },
      { kind: 'control', msg: { t: 'resize', cols: 80, rows: 24 } },
      { kind: 'data', data: Buffer.alloc(0) }
    ])
    expect(decoder.pending).toBe(0)
  })

  it('refuses a frame over the limit before buffering it, an unknown kind, a control frame that is not an object, a cut frame', async () => {
    const big = Buffer.alloc(5)
    big[0] = 1
    big.writeUInt32BE(2 ** 31, 1)
    expect(() => new BridgeFrameDecoder(1024).push(big)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    expect(() => new BridgeFrameDecoder(1024).push(Buffer.from([9, 0, 0, 0, 0]))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    const notObject = Buffer.concat([Buffer.from([2, 0, 0, 0, 2]), Buffer.from('[]')])
    expect(() => new BridgeFrameDecoder(1024).push(notObject)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED' }))
    const frames: unknown[] = []
    const cut = await new Promise<Error | undefined>(resolve => {
      onBridgeFrames(Readable.from([dataFrame(Buffer.from('abc')).subarray(0, 6)]), 1024, f => { frames.push(f) }, resolve)
    })
    expect(frames).toEqual([])
    expect(cut).toMatchObject({ code: 'ERR_MALFORMED' })
  })
})

describe('attach bridge: the CLI and the daemon over a Unix socket', () => {
  let dir: string
  let server: Server
  let typed: Buffer[]
  let detached: boolean
  let push: (f: AttachFrame) => void
  let opened: number
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cit-bridge-'))
    typed = []
    detached = false
    opened = 0
    const frames: AttachFrame[] = []
    let wake: (() => void) | undefined
    push = f => { frames.push(f); wake?.() }
    const handlers = {
      openAttach: async () => {
        opened++
        return {
          mode: 'rw', cols: 80, rows: 24,
          output: (async function * () {
            for (;;) {
              const f = frames.shift()
              if (f === undefined) { await new Promise<void>(resolve => { wake = resolve }); continue }
              yield f
              if (f.type === 'end') return
            }
          })(),
          write: async (d: Uint8Array) => { typed.push(Buffer.from(d)) },
          resize: async () => {},
          detach: async () => { detached = true }
        }
      }
    } as unknown as ControlHandlers
    server = createServer()
    server.on('upgrade', (req, socket) => { void serveAttachBridge(req, socket, handlers, silentLogger) })
    await new Promise<void>(resolve => server.listen(join(dir, 'control.sock'), resolve))
  })
  afterEach(async () => {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
    await rm(dir, { recursive: true, force: true })
  })

  it('carries keys and output byte for byte, a large paste in several frames, then the end', async () => {
    const session = await openBridge(join(dir, 'control.sock'), dir, 'job', 'rw', { cols: 80, rows: 24 })
    const paste = Buffer.alloc(200 * 1024, 'k')
    await session.write(paste)
    await session.write('\x1d\x03é')
    await waitFor(() => Buffer.concat(typed).length === paste.length + 4, { what: 'the keys to reach the session' })
    expect(Buffer.concat(typed).equals(Buffer.concat([paste, Buffer.from('\x1d\x03é')]))).toBe(true)
    expect(typed.length).toBeGreaterThan(2)
    const out = Buffer.from([0, 0x1b, 0xff, 0x0a])
    push({ type: 'output', data: out })
    push({ type: 'end', state: 'succeeded', exitCode: 0 })
    const seen: AttachFrame[] = []
    for await (const f of session.output) seen.push(f)
    expect(seen).toEqual([{ type: 'output', data: out }, { type: 'end', state: 'succeeded', exitCode: 0 }])
  })

  it('a client of the old JSON framing gets 426 and opens no session', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(join(dir, 'control.sock'))
      let text = ''
      sock.on('data', d => { text += d.toString() })
      sock.on('end', () => { resolve(text) })
      sock.on('error', reject)
      sock.write('GET /v1/jobs/job/attach?mode=rw HTTP/1.1\r\nHost: cit\r\nConnection: Upgrade\r\nUpgrade: cit-attach\r\n\r\n')
    })
    expect(reply).toMatch(/^HTTP\/1.1 426 /)
    expect(opened).toBe(0)
  })

  it('a frame over the limit from the CLI side ends the session (detached), it is not buffered', async () => {
    const sock = connect(join(dir, 'control.sock'))
    sock.write('GET /v1/jobs/job/attach?mode=rw HTTP/1.1\r\nHost: cit\r\nConnection: Upgrade\r\nUpgrade: cit-attach/2\r\n\r\n')
    await waitFor(() => opened === 1, { what: 'the session to open' })
    const header = Buffer.alloc(5)
    header[0] = 1
    header.writeUInt32BE(64 * 1024 * 1024, 1)
    sock.write(header)
    await waitFor(() => detached, { what: 'the session to be detached' })
    expect(typed).toEqual([])
    sock.destroy()
  })
})
