import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REFUSED_BODY_DRAIN_BYTES, buildHttpApp } from '../../node/http/app.js'
import { silentLogger } from '../../store/logger.js'
import { waitFor } from '../helpers/wait.js'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { HttpContext } from '../../node/http/context.js'

const MIB = 1024 * 1024

/** a raw connection that keeps what it reads, and whether the server reset it */
function open (port: number): { socket: Socket, received: () => string, failed: () => Error | undefined, closed: () => boolean } {
  const socket = connect(port, '127.0.0.1')
  let text = ''
  let error: Error | undefined
  let closed = false
  socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
  socket.on('error', err => { error = err })
  socket.on('close', () => { closed = true })
  return { socket, received: () => text, failed: () => error, closed: () => closed }
}

async function write (socket: Socket, bytes: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => { socket.write(bytes, err => { err != null ? reject(err) : resolve() }) })
}

/** the answers in `text`, each `HTTP/1.1 <status>` with its JSON body */
function answers (text: string): Array<{ status: number, body: string }> {
  const out: Array<{ status: number, body: string }> = []
  let rest = text
  for (;;) {
    const head = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(rest)
    if (head == null) return out
    const length = Number(/content-length: (\d+)/i.exec(head[2])?.[1] ?? '0')
    const start = head[0].length
    if (rest.length < start + length) return out
    out.push({ status: Number(head[1]), body: rest.slice(start, start + length) })
    rest = rest.slice(start + length)
  }
}

describe('a request body refused for its size', () => {
  let app: FastifyInstance
  let port: number
  beforeAll(async () => {
    // the app's own error replies, body limit and server; the context's other parts are not used by these routes
    const ctx = { metrics: { httpError: () => {} }, logger: silentLogger } as unknown as HttpContext
    app = await buildHttpApp(ctx, [{ name: 'echo', register: async scope => { scope.post('/echo', async () => ({ ok: true })) } }])
    await app.listen({ host: '127.0.0.1', port: 0 })
    port = (app.server.address() as { port: number }).port
  })
  afterAll(async () => { await app.close() })

  it('is answered 413, and a client that goes on sending it (as curl does) reads the answer and keeps its connection', async () => {
    const c = open(port)
    const declared = 2 * MIB
    const body = Buffer.alloc(declared, 'x')
    await write(c.socket, Buffer.from(`POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`))
    await write(c.socket, body.subarray(0, 64 * 1024))
    await waitFor(() => answers(c.received()).length === 1, { what: 'the 413' })
    expect(answers(c.received())[0]).toMatchObject({ status: 413 })
    expect(JSON.parse(answers(c.received())[0].body).code).toBe('ERR_BODY_TOO_LARGE')
    // the rest of the body: a server that closed at once would reset the connection here
    for (let at = 64 * 1024; at < declared; at += 256 * 1024) await write(c.socket, body.subarray(at, at + 256 * 1024))
    // and the same connection takes the next request
    await write(c.socket, Buffer.from('POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}'))
    await waitFor(() => answers(c.received()).length === 2 || c.failed() != null, { what: 'the second answer' })
    expect(c.failed()).toBeUndefined()
    expect(answers(c.received())[1]).toEqual({ status: 200, body: '{"ok":true}' })
    c.socket.destroy()
  })

  it('is read and dropped only up to a bound: a client that sends more is cut off', async () => {
    const c = open(port)
    const declared = 64 * MIB
    await write(c.socket, Buffer.from(`POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`))
    await waitFor(() => answers(c.received()).length === 1, { what: 'the 413' })
    expect(answers(c.received())[0].status).toBe(413)
    const piece = Buffer.alloc(256 * 1024, 'y')
    let sent = 0
    try {
      while (sent < declared && !c.closed() && c.failed() == null) {
        await write(c.socket, piece)
        sent += piece.byteLength
      }
    } catch {
      // the write that found the connection cut
    }
    await waitFor(() => c.closed(), { what: 'the server to cut the connection' })
    // what the kernel's buffers hold at both ends comes on top of the bound
    expect(sent).toBeLessThan(REFUSED_BODY_DRAIN_BYTES + 16 * MIB)
  })
})
