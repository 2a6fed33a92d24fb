/**
 * The control server on its own, over a real Unix socket and the CLI's real client: routing, the
 * error replies the error table gives each code, body limits, the socket's mode, stopping with
 * requests in flight. The handlers behind it are a stub (the unit seam): what they do is tested
 * with real daemons elsewhere.
 */
import { stat } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ControlClient } from '../../../cli/client.js'
import { CliError } from '../../../cli/errors.js'
import { MAX_BODY_BYTES, ControlServer } from '../../../node/control/server.js'
import { InvalidInputError, JobNotFoundError } from '../../../node/errors.js'
import { tempHome, waitFor } from '../../helpers/cli.js'
import type { ControlHandlers, OutputStream } from '../../../node/control/types.js'
import type { Logger } from '../../../store/logger.js'

interface Logged { level: string, msg: string, fields?: Record<string, unknown> }

function recordingLogger (lines: Logged[]): Logger {
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>): void => { lines.push({ level, msg, fields }) }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as Logger
}

/** a raw request, for what the client never sends (bad JSON, huge bodies, unknown routes) */
async function raw (socketPath: string, method: string, path: string, body?: Buffer | string): Promise<{ status: number, body: any }> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) })
      })
    })
    req.on('error', reject)
    // the server may answer and close before a refused body is all sent: the rest gets EPIPE
    req.on('socket', socket => { socket.on('error', () => {}) })
    req.end(body)
  })
}

describe('ControlServer', () => {
  let home: { dir: string, cleanup: () => Promise<void> }
  let socketPath: string
  let server: ControlServer
  let client: ControlClient
  let logged: Logged[]
  let calls: Array<[string, unknown[]]>
  let handlers: Partial<ControlHandlers>

  beforeEach(async () => {
    home = await tempHome('cit-control-')
    socketPath = join(home.dir, 'control.sock')
    logged = []
    calls = []
    handlers = {}
    // every handler the test did not set answers ERR_NOT_IMPLEMENTED-like: a bug in the test shows
    const proxy = new Proxy(handlers, {
      get: (target, name: string) => {
        const f = (target as any)[name]
        if (f == null) return undefined
        return (...args: unknown[]) => { calls.push([name, args]); return f(...args) }
      }
    }) as ControlHandlers
    server = new ControlServer({ handlers: proxy, logger: recordingLogger(logged) }, { socketPath })
    await server.start()
    client = new ControlClient(socketPath, home.dir)
  })

  afterEach(async () => {
    await server.stop()
    await home.cleanup()
  })

  it('listens on an owner-only socket; start and stop are idempotent; stop removes the socket', async () => {
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600)
    await server.start()
    await server.stop()
    await server.stop()
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' })
    // a stopped server's socket is gone: the client says the daemon is unreachable
    await expect(client.status()).rejects.toMatchObject({ code: 'ERR_DAEMON_UNREACHABLE' })
    await server.start()
    handlers.status = async () => ({ peerId: 'p' } as any)
    expect(await client.status()).toEqual({ peerId: 'p' })
  })

  it('routes each request to its handler with the body and the path\'s parts', async () => {
    handlers.submit = async body => ({ id: 'j1', submitted: body } as any)
    handlers.show = async ref => ({ id: ref } as any)
    handlers.cancel = async ref => ({ id: ref, state: 'cancelled' } as any)
    handlers.reprioritize = async (ref, priority) => ({ id: ref, priority } as any)
    handlers.list = async options => [{ limit: options?.limit }] as any
    expect(await client.submit({ spec: { name: 'x' }, priority: 3 })).toEqual({ id: 'j1', submitted: { spec: { name: 'x' }, priority: 3 } })
    // a ref with characters that need escaping arrives decoded
    expect(await client.show('a b/c')).toEqual({ id: 'a b/c' })
    expect(await client.cancel('j1')).toEqual({ id: 'j1', state: 'cancelled' })
    expect(await client.reprioritize('j1', 7)).toEqual({ id: 'j1', priority: 7 })
    expect(await client.list({ limit: 5 })).toEqual([{ limit: 5 }])
    expect(calls.map(([name]) => name)).toEqual(['submit', 'show', 'cancel', 'reprioritize', 'list'])
  })

  it('an error carries its code and the status the error table gives it; internal ones are logged, input errors are not', async () => {
    handlers.show = async ref => { throw new JobNotFoundError(ref) }
    handlers.submit = async () => { throw new InvalidInputError('invalid job: name: is required', [{ path: 'name', message: 'is required' }]) }
    handlers.status = async () => { throw new Error('something broke') }
    const missing = await raw(socketPath, 'GET', '/v1/jobs/nope')
    expect(missing.status).toBe(404)
    expect(missing.body.error).toMatchObject({ code: 'ERR_JOB_NOT_FOUND' })
    const invalid = await raw(socketPath, 'POST', '/v1/jobs', JSON.stringify({ spec: {} }))
    expect(invalid.status).toBe(400)
    expect(invalid.body.error).toMatchObject({ code: 'ERR_INVALID_INPUT', problems: [{ path: 'name', message: 'is required' }] })
    const broken = await raw(socketPath, 'GET', '/v1/status')
    expect(broken.status).toBe(500)
    expect(broken.body.error).toEqual({ code: 'ERR_INTERNAL', message: 'something broke' })
    // the client turns the reply into a CliError with the same code
    const err = await client.show('nope').catch(e => e)
    expect(err).toBeInstanceOf(CliError)
    expect(err.code).toBe('ERR_JOB_NOT_FOUND')
    // only the internal error went to the log, with its stack
    const errors = logged.filter(l => l.level === 'error')
    expect(errors).toHaveLength(1)
    expect(errors[0].msg).toBe('control request failed')
    expect(String((errors[0].fields?.err as Error).stack)).toContain('something broke')
  })

  it('refuses an unknown route, a body that is not JSON and one over the size limit, without calling a handler', async () => {
    handlers.submit = async () => ({ id: 'never' } as any)
    const unknown = await raw(socketPath, 'GET', '/v1/nothing-here')
    expect(unknown.status).toBe(404)
    expect(unknown.body.error.code).toBe('ERR_UNKNOWN_ROUTE')
    expect((await raw(socketPath, 'GET', '/v2/status')).body.error.code).toBe('ERR_UNKNOWN_ROUTE')
    const notJson = await raw(socketPath, 'POST', '/v1/jobs', '{"spec": ')
    expect(notJson.status).toBe(400)
    expect(notJson.body.error).toEqual({ code: 'ERR_INVALID_INPUT', message: 'request body is not JSON' })
    const huge = await raw(socketPath, 'POST', '/v1/jobs', Buffer.alloc(MAX_BODY_BYTES + 1, 0x20)).catch(err => ({ status: -1, body: { error: { code: String(err.code) } } }))
    // refused with its code, or the connection cut while the body was still coming: never accepted
    if (huge.status !== -1) expect(huge.body.error.code).toBe('ERR_BODY_TOO_LARGE')
    expect(calls).toEqual([])
  })

  it('stopping ends a request that waits on a job: the handler sees its signal aborted', async () => {
    let seen: AbortSignal | undefined
    handlers.wait = async (_ref, signal) => {
      seen = signal
      await new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { reject(new Error('aborted')) }, { once: true }) })
      return {} as any
    }
    const waiting = client.wait('j1').catch(err => err)
    await waitFor(() => seen, { timeoutMs: 5000, what: 'the wait request to reach its handler' })
    expect(seen?.aborted).toBe(false)
    await server.stop()
    expect(seen?.aborted).toBe(true)
    expect(await waiting).toBeInstanceOf(Error)
  })

  it('streams a job\'s output: the replay, then live chunks until the job ends', async () => {
    let push: ((chunk: Uint8Array) => void) | undefined
    let end: (() => void) | undefined
    let unsubscribed = false
    handlers.output = async (_ref, follow): Promise<OutputStream> => ({
      replay: ['first\n', Buffer.from('second\n')],
      follow: follow ? (onData, onEnd) => { push = onData; end = onEnd; return () => { unsubscribed = true } } : undefined
    })
    let text = ''
    const stream = await client.output('j1', true)
    const reading = (async () => { for await (const c of stream) text += Buffer.from(c).toString() })()
    await waitFor(() => push, { timeoutMs: 5000, what: 'the follower to subscribe' })
    push!(Buffer.from('live\n'))
    end!()
    await reading
    expect(text).toBe('first\nsecond\nlive\n')
    expect(unsubscribed).toBe(true)
    // without follow: the replay only
    let once = ''
    for await (const c of await client.output('j1', false)) once += Buffer.from(c).toString()
    expect(once).toBe('first\nsecond\n')
  })
})
