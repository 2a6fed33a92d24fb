import { createServer } from 'node:http'
import { chmod, unlink } from 'node:fs/promises'
import { linkedSignal } from '../../protocols/codec/index.js'
import { httpStatusFor } from './errors.js'
import { errorEntry } from '../error-codes.js'
import { serveAttachBridge } from './attach-bridge.js'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Logger } from '../../store/logger.js'
import type { ControlHandlers, SubmitBody } from './types.js'
import type { NixSubmitBody } from '../nix/index.js'
import type { ErrorReply } from './errors.js'

/**
 * Routes of a component of its own (node/triggers): given the method, the path's parts after
 * `/v1` and the JSON body, the reply's value, or undefined when the route is not its own.
 */
export type ExtraRoutes = (method: string, parts: string[], body: () => Promise<unknown>, query: URLSearchParams) => Promise<{ value: unknown } | undefined>

/** the largest request body accepted (a job spec) */
export const MAX_BODY_BYTES = 2 * 1024 * 1024
/** past this many bytes queued to a slow follower, output is skipped instead of buffered */
export const MAX_FOLLOW_BUFFER_BYTES = 8 * 1024 * 1024

class HttpError extends Error {
  constructor (readonly code: string, message: string) { super(message) }
}

/**
 * The local control API: HTTP over a Unix socket in the home, owner-only (0600). Replies are
 * JSON; errors carry `{error: {code, message}}`; output streams are raw bytes.
 */
export class ControlServer {
  private server?: Server
  private readonly log: Logger
  private readonly handlers: ControlHandlers
  private readonly controller = new AbortController()

  private readonly routes?: ExtraRoutes

  constructor (components: { handlers: ControlHandlers, logger: Logger, routes?: ExtraRoutes }, private readonly init: { socketPath: string }) {
    this.handlers = components.handlers
    this.log = components.logger
    this.routes = components.routes
  }

  async start (): Promise<void> {
    if (this.server != null) return
    await unlink(this.init.socketPath).catch(() => {})
    const server = createServer((req, res) => { void this.handle(req, res) })
    server.on('upgrade', (req, socket) => {
      if (/^\/v1\/jobs\/[^/]+\/attach/.test(req.url ?? '')) void serveAttachBridge(req, socket, this.handlers, this.log)
      else socket.end('HTTP/1.1 404 Not Found\r\n\r\n')
    })
    // followers and waiters hold requests open for as long as a job runs
    server.requestTimeout = 0
    server.headersTimeout = 10_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.socketPath, () => { server.off('error', reject); resolve() })
    })
    await chmod(this.init.socketPath, 0o600)
    this.server = server
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server == null) return
    this.server = undefined
    this.controller.abort(new Error('the daemon is stopping'))
    await new Promise<void>(resolve => {
      server.close(() => { resolve() })
      server.closeAllConnections()
    })
    await unlink(this.init.socketPath).catch(() => {})
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res)
    } catch (err: any) {
      const code: string = typeof err?.code === 'string' ? err.code : 'ERR_INTERNAL'
      const status = httpStatusFor(code)
      // what the table does not foresee, or calls internal, is a bug: its stack goes to the daemon log
      if (status >= 500 && errorEntry(code).class === 'internal') this.log.error('control request failed', { url: req.url, err })
      const body: ErrorReply = { error: { code, message: String(err?.message ?? err), problems: err?.problems } }
      if (!res.headersSent) {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      } else {
        res.destroy()
      }
    }
  }

  private async route (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://cit')
    const parts = url.pathname.split('/').filter(p => p !== '').map(decodeURIComponent)
    const method = req.method ?? 'GET'
    const h = this.handlers
    if (parts[0] !== 'v1') throw new HttpError('ERR_UNKNOWN_ROUTE', `no route ${method} ${url.pathname}`)
    const [, a, b, c] = parts
    if (method === 'GET' && a === 'status' && b == null) return json(res, await h.status())
    if (method === 'POST' && a === 'stop' && b == null) {
      const body = await readJson(req).catch(() => ({})) as { wait?: unknown } | undefined
      json(res, { stopping: true })
      setImmediate(() => { h.stop({ wait: body?.wait === true }).catch(err => { this.log.error('stop failed', { err }) }) })
      return
    }
    if (method === 'GET' && a === 'peers' && b == null) return json(res, await h.peers())
    if (method === 'POST' && a === 'state' && b == null) {
      const body = await readJson(req) as { state: 'active' | 'paused' | 'draining' }
      return json(res, await h.setState(body?.state))
    }
    if (method === 'POST' && a === 'invites' && b == null) return json(res, await h.invite(await readJson(req) as { roles?: unknown, ttlMs?: number }))
    if (method === 'POST' && a === 'leave' && b == null) return json(res, await h.leave())
    if (method === 'POST' && a === 'gc' && b == null) return json(res, await h.gc())
    if (a === 'tokens') {
      if (method === 'GET' && b == null) return json(res, await h.tokenList())
      if (method === 'POST' && b == null) return json(res, await h.tokenCreate(await readJson(req) as { role?: unknown, ttlMs?: unknown, label?: unknown }))
      if (method === 'POST' && b != null && c === 'revoke') return json(res, await h.tokenRevoke(b, { purge: url.searchParams.get('purge') === '1' }))
    }
    if (a === 'trust') {
      if (method === 'GET' && b == null) return json(res, await h.trustList())
      if (method === 'POST' && b === 'grant') return json(res, await h.trustGrant(await readJson(req) as { key: string, roles: unknown, ttlMs?: number }))
      if (method === 'POST' && b === 'revoke') return json(res, await h.trustRevoke(await readJson(req) as { key: string }))
    }
    if (a === 'jobs') {
      if (method === 'POST' && b == null) return json(res, await h.submit(await readJson(req) as SubmitBody))
      if (method === 'GET' && b == null) {
        const limit = url.searchParams.has('limit') ? Number(url.searchParams.get('limit')) : undefined
        return json(res, await h.list({ limit }))
      }
      if (b != null && method === 'GET' && c == null) return json(res, await h.show(b))
      if (b != null && method === 'POST' && c === 'cancel') return json(res, await h.cancel(b))
      if (b != null && method === 'POST' && c === 'priority') return json(res, await h.reprioritize(b, Number((await readJson(req) as { priority?: unknown })?.priority)))
      if (b != null && method === 'GET' && c === 'wait') {
        const ac = new AbortController()
        res.on('close', () => { ac.abort() })
        // not AbortSignal.any: on Node.js 20 each one leaves a WeakRef on the server's signal for good
        const link = linkedSignal([ac.signal, this.controller.signal])
        try {
          return json(res, await h.wait(b, link.signal))
        } finally {
          link.dispose()
        }
      }
      if (b != null && method === 'GET' && c === 'output') {
        return await this.streamOutput(res, await h.output(b, url.searchParams.get('follow') === '1', closeSignal(res)))
      }
    }
    if (method === 'POST' && a === 'nix' && b === 'jobs' && c == null) return json(res, await h.submitNix(await readJson(req) as NixSubmitBody))
    if (method === 'POST' && a === 'nix' && b === 'import' && c == null) {
      const body = await readJson(req) as { ref?: unknown }
      return json(res, await h.nixImport(String(body?.ref ?? ''), closeSignal(res)))
    }
    if (method === 'POST' && a === 'verify' && b == null) return json(res, await h.verify(await readJson(req) as { hash: string, envelope?: string }, closeSignal(res)))
    if (method === 'POST' && a === 'rebuild' && b == null) return json(res, await h.rebuild(String((await readJson(req) as { ref?: unknown })?.ref ?? '')))
    if (a === 'blobs' && b != null && method === 'POST' && c === 'fetch') {
      // progress as JSON lines while the blob is fetched from its holders, then the result
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      const ac = new AbortController()
      res.on('close', () => { ac.abort() })
      let last = 0
      try {
        const result = await h.fetchBlob(b, (done, total) => {
          if (Date.now() - last < 200) return
          last = Date.now()
          res.write(JSON.stringify({ progress: { done, total } }) + '\n')
        }, ac.signal)
        res.end(JSON.stringify({ result }) + '\n')
      } catch (err: any) {
        res.end(JSON.stringify({ error: { code: err?.code ?? 'ERR_INTERNAL', message: String(err?.message ?? err) } }) + '\n')
      }
      return
    }
    if (a === 'blobs' && b != null && method === 'GET' && c == null) {
      const blob = await h.blob(b)
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) })
      for await (const chunk of blob.stream) {
        if (!res.write(chunk)) await new Promise(resolve => res.once('drain', resolve))
        if (res.destroyed) return
      }
      res.end()
      return
    }
    const extra = await this.routes?.(method, parts.slice(1), async () => await readJson(req), url.searchParams)
    if (extra != null) return json(res, extra.value)
    throw new HttpError('ERR_UNKNOWN_ROUTE', `no route ${method} ${url.pathname}`)
  }

  private async streamOutput (res: ServerResponse, out: Awaited<ReturnType<ControlHandlers['output']>>): Promise<void> {
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    for await (const chunk of out.replay) {
      if (!res.write(chunk)) await new Promise(resolve => res.once('drain', resolve))
      if (res.destroyed) return
    }
    if (out.follow == null) { res.end(); return }
    let skipped = false
    await new Promise<void>(resolve => {
      const unsubscribe = out.follow!(chunk => {
        // a slow viewer never slows the job: past the buffer bound its output is skipped
        if (res.writableLength > MAX_FOLLOW_BUFFER_BYTES) { skipped = true; return }
        if (skipped) { skipped = false; res.write('\r\n[cit-node: output skipped, this viewer was too slow]\r\n') }
        res.write(chunk)
      }, () => { res.end(); resolve() })
      res.on('close', () => { unsubscribe(); resolve() })
    })
  }
}

/** aborted when the client goes away: long requests stop working for nobody */
function closeSignal (res: ServerResponse): AbortSignal {
  const ac = new AbortController()
  res.on('close', () => { if (!res.writableFinished) ac.abort(new Error('the client went away')) })
  return ac.signal
}

function json (res: ServerResponse, value: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify(value))
}

async function readJson (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > MAX_BODY_BYTES) throw new HttpError('ERR_BODY_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk as Buffer)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new HttpError('ERR_INVALID_INPUT', 'request body is not JSON')
  }
}
