import { describe, expect, it } from 'vitest'
import { pairedChannels } from '../../../protocols/attach/index.js'
import type { ClientFrame, ServerFrame } from '../../../protocols/attach/index.js'

const never = new AbortController().signal

describe('attach: the in-memory channel pair of a session on its own node', () => {
  it('hands messages over as they are, in order, to a reader already waiting or one that comes later', async () => {
    const [server, client] = pairedChannels()
    const waiting = server.first(1000, never)
    await client.send({ job: 'j', mode: 'rw', window: 10 }, never)
    expect(await waiting).toEqual({ job: 'j', mode: 'rw', window: 10 })
    const data = new Uint8Array([1, 2, 3])
    await client.send({ type: 'input', data }, never)
    await client.send({ type: 'ping' }, never)
    const input = await server.read(1000, never) as Extract<ClientFrame, { type: 'input' }>
    expect(input.data).toBe(data)
    expect(await server.read(1000, never)).toEqual({ type: 'ping' })
    // closing one side: the other reads what was sent before, then the end
    await server.send({ type: 'output', data }, never)
    await server.close()
    expect(await client.read(1000, never)).toEqual({ type: 'output', data })
    expect(await client.read(1000, never)).toBeUndefined()
    await expect(server.send({ type: 'ping' }, never)).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })

  it('a read that waits past its deadline fails with ERR_TIMEOUT, also after earlier reads were answered in time', async () => {
    const [server, client] = pairedChannels()
    const first = server.read(150, never)
    setTimeout(() => { void client.send({ type: 'ping' }, never) }, 20)
    expect(await first).toEqual({ type: 'ping' })
    // the timer armed for the first read is still pending: it must not cut this one short or let it hang
    await expect(server.read(150, never)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
  })

  it('an abort of the read signal, and a reset by the other side, fail a waiting read; a reset drops what was not read', async () => {
    const [server, client] = pairedChannels()
    const controller = new AbortController()
    const reading = client.read(10_000, controller.signal)
    controller.abort()
    await expect(reading).rejects.toMatchObject({ code: 'ERR_ABORTED' })

    const output: ServerFrame = { type: 'output', data: new Uint8Array([7]) }
    await server.send(output, never)
    const waiting = server.read(10_000, never)
    client.abort(new Error('gone'))
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    await expect(client.read(10_000, never)).rejects.toThrow('gone')
  })
})
