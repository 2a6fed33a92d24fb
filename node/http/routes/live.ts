import { HttpError } from '../errors.js'
import { jobIdParams } from '../schemas.js'
import { isFinal } from '../../../protocols/job/records.js'
import type { FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { HttpContext, HttpModule } from '../context.js'

/** past this many bytes queued to a viewer, it is dropped (a viewer never slows a job or grows the daemon) */
export const MAX_VIEWER_BUFFER_BYTES = 8 * 1024 * 1024
/** viewers of live jobs at once, over all jobs */
export const MAX_LIVE_VIEWERS = 1000
/** how long the end message waits for the job's result to arrive after its output ended */
export const END_WAIT_MS = 10_000
/** ping interval; a viewer that has not answered the previous ping is dropped */
export const LIVE_PING_MS = 20_000

/** the websocket as docs/api.md describes it (OpenAPI has no words for websockets) */
export const LIVE_DOC = [
  '### `GET /api/v1/jobs/{id}/live` (websocket)',
  '',
  "A running job's terminal output and its new events, wherever in the mesh it runs, to any number of viewers.",
  'Reads: open on loopback, a `read` token elsewhere; a page of another origin is refused (403).',
  '',
  '| message | direction | content |',
  '|---|---|---|',
  '| binary | server → viewer | terminal output bytes (the scrollback first, then live) |',
  '| `{"type":"hello","job":Job}` | server → viewer | the job when the viewer joined |',
  '| `{"type":"event","event":{job,type,node,at,state,reason},"state"}` | server → viewer | each new event of the job |',
  '| `{"type":"error","code","message"}` | server → viewer | the output cannot be had (the node running it is gone…); the socket closes |',
  '| `{"type":"end","job":Job}` | server → viewer | the job ended (its final document); the socket closes |',
  '',
  `A viewer with more than ${MAX_VIEWER_BUFFER_BYTES / 1048576} MiB unread is dropped (\`cit_http_live_dropped_total{reason="slow"}\`); one that answers no ping in ${LIVE_PING_MS / 1000} s too. A plain GET is 426, an unknown job 404.`,
  ''
].join('\n')

/**
 * `GET /api/v1/jobs/ID/live` (websocket): a running job's terminal output as binary messages and
 * its new events as JSON text messages, wherever it runs (the path `logs --follow` uses). Text
 * messages: `{type: 'hello', job}`, `{type: 'event', event}`, `{type: 'error', code, message}`,
 * `{type: 'end', job}` (then the server closes). Viewers send nothing.
 */
export const live: HttpModule = {
  name: 'live',
  async register (app, ctx) {
    let viewers = 0
    app.get<{ Params: { id: string } }>('/api/v1/jobs/:id/live', {
      websocket: true,
      onRequest: ctx.auth.require('read'),
      preHandler: async (req) => {
        checkOrigin(req)
        if (req.headers.upgrade?.toLowerCase() !== 'websocket') throw new HttpError('ERR_NOT_A_WEBSOCKET', 'this address speaks websocket only (Upgrade: websocket)')
        if (viewers >= MAX_LIVE_VIEWERS) throw new HttpError('ERR_BUSY', `${viewers} live viewers already: try again later`)
        // resolve before the upgrade: an unknown job is a plain 404
        await ctx.handlers.show(req.params.id)
      },
      schema: {
        tags: ['jobs'],
        summary: "websocket: a running job's terminal output (binary messages) and its events (JSON text messages) until it ends",
        params: jobIdParams
      }
    }, (socket, req) => {
      viewers++
      ctx.metrics.wsViewers.inc()
      socket.once('close', () => { viewers--; ctx.metrics.wsViewers.dec() })
      void serveViewer(ctx, socket, req.params.id)
    })
  }
}

/** a page of another site must not read a job through a visitor's browser (websockets have no CORS) */
function checkOrigin (req: FastifyRequest): void {
  const origin = req.headers.origin
  if (origin == null) return
  let host: string
  try {
    host = new URL(origin).host
  } catch {
    host = ''
  }
  if (host !== req.headers.host) throw new HttpError('ERR_FORBIDDEN', `origin ${JSON.stringify(origin.slice(0, 200))} may not open this websocket`)
}

async function serveViewer (ctx: HttpContext, socket: WebSocket, ref: string): Promise<void> {
  const h = ctx.handlers
  const cleanup: Array<() => void> = []
  let closed = false
  const close = (code: number, reason: string): void => {
    if (closed) return
    closed = true
    for (const fn of cleanup.splice(0)) fn()
    if (socket.readyState === socket.OPEN) socket.close(code, reason)
  }
  socket.once('close', () => { close(1000, '') })
  socket.on('error', () => { close(1011, '') })
  const send = (data: string | Uint8Array): void => {
    if (closed) return
    if (socket.bufferedAmount > MAX_VIEWER_BUFFER_BYTES) {
      ctx.metrics.wsDropped.inc({ reason: 'slow' })
      ctx.logger.info('live viewer dropped: it does not read', { job: ref, buffered: socket.bufferedAmount })
      closed = true
      for (const fn of cleanup.splice(0)) fn()
      socket.terminate()
      return
    }
    socket.send(data)
  }
  const json = (value: unknown): void => { send(JSON.stringify(value)) }
  const finish = async (): Promise<void> => {
    if (closed) return
    try {
      // the output ends on the executor a moment before its result reaches this node
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(END_WAIT_MS)])
      json({ type: 'end', job: await h.wait(ref, signal).catch(async () => await h.show(ref)) })
    } catch {}
    close(1000, 'the job ended')
  }
  let alive = true
  const ping = setInterval(() => {
    if (!alive) { ctx.metrics.wsDropped.inc({ reason: 'silent' }); close(1001, 'no answer to ping'); socket.terminate(); return }
    alive = false
    socket.ping()
  }, LIVE_PING_MS)
  socket.on('pong', () => { alive = true })
  cleanup.push(() => { clearInterval(ping) })
  const stop = (): void => { close(1001, 'the daemon is stopping') }
  ctx.signal.addEventListener('abort', stop, { once: true })
  cleanup.push(() => { ctx.signal.removeEventListener('abort', stop) })
  try {
    const job = await h.show(ref)
    const id = job.id
    json({ type: 'hello', job })
    if (isFinal(job.state)) { await finish(); return }
    cleanup.push(h.watchJobs((ev, row) => {
      if (ev.job !== id) return
      json({ type: 'event', event: ev, state: row?.state })
    }))
    // a viewer who leaves while the job is still queued stops its wait for the start
    const gone = new AbortController()
    cleanup.push(() => { gone.abort(new Error('the viewer left')) })
    const out = await h.output(id, true, gone.signal)
    if (closed) return
    for await (const chunk of out.replay) send(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
    if (out.follow == null) { await finish(); return }
    const unsubscribe = out.follow(chunk => { send(chunk) }, () => { void finish() })
    cleanup.push(unsubscribe)
    if (closed) unsubscribe()
  } catch (err: any) {
    const code = typeof err?.code === 'string' ? err.code : 'ERR_INTERNAL'
    json({ type: 'error', code, message: unreachableMessage(code, String(err?.message ?? err)) })
    close(1011, code.slice(0, 100))
  }
}

function unreachableMessage (code: string, message: string): string {
  if (code === 'ERR_INTERNAL') return 'internal error (see the daemon log)'
  if (/DIAL|UNREACH|TIMEOUT|ABORT|CONNECT|NO_VALID_ADDRESSES/i.test(code)) return `the node running this job cannot be reached: ${message}`
  return message
}
