import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import websocket from '@fastify/websocket'
import { classify } from './errors.js'
import { SHARED_SCHEMAS } from './schemas.js'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { HttpContext, HttpModule } from './context.js'

/** the largest request body any route takes unless it sets its own (a job spec is far smaller) */
export const MAX_BODY_BYTES = 1024 * 1024
/** the largest websocket message a viewer may send (viewers send nothing but pings) */
export const MAX_WS_MESSAGE_BYTES = 4096
/** a connection that sends no complete request head in this time is closed */
export const HEADERS_TIMEOUT_MS = 10_000
/** the longest path parameter (artefact paths) */
export const MAX_PARAM_LENGTH = 2048
/** of a body refused for its size, at most this much is read and dropped after the answer (see `drainRefusedBody`) */
export const REFUSED_BODY_DRAIN_BYTES = 8 * 1024 * 1024
/** and for at most this long */
export const REFUSED_BODY_DRAIN_MS = 5000

/**
 * A body refused for its size (413) is read and dropped, up to REFUSED_BODY_DRAIN_BYTES and
 * REFUSED_BODY_DRAIN_MS, before the connection is closed or reused. Fastify marks such an answer
 * `connection: close`, and Node.js closes the socket as soon as the answer is written: with the
 * client still sending, the unread bytes make the kernel reset the connection, and the reset can
 * reach the client before it has read the answer, which then sees a connection reset instead of
 * the 413 and its reason. Kept alive instead, the server reads the rest of the request (Node.js
 * drops an unread body once the answer is sent) and the connection stays usable; a client that
 * sends more than the bound, or too slowly, is cut off.
 */
function drainRefusedBody (req: IncomingMessage, reply: FastifyReply): void {
  if (req.complete) return
  void reply.removeHeader('connection')
  let read = 0
  const cut = (): void => { req.socket.destroy() }
  const timer = setTimeout(cut, REFUSED_BODY_DRAIN_MS)
  timer.unref()
  const onData = (chunk: Buffer): void => {
    read += chunk.byteLength
    if (read > REFUSED_BODY_DRAIN_BYTES) cut()
  }
  const done = (): void => {
    clearTimeout(timer)
    req.off('data', onData)
  }
  req.on('data', onData)
  req.once('end', done)
  req.once('close', done)
  req.resume()
}

/**
 * Build the HTTP face's Fastify app: the shared pieces (error replies `{code, message}`, body
 * limit, schemas, the OpenAPI document, websockets) and then each route module in its own scope.
 */
export async function buildHttpApp (ctx: HttpContext, modules: HttpModule[]): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    trustProxy: false,
    // websockets and downloads run for as long as a job or a transfer does
    requestTimeout: 0,
    connectionTimeout: 0,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH, ignoreTrailingSlash: true },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } }
  })
  app.server.headersTimeout = HEADERS_TIMEOUT_MS
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)
  app.setErrorHandler(async (err, req, reply) => {
    const { status, body } = classify(err)
    if (status >= 500) ctx.logger.error('http request failed', { method: req.method, url: req.url, err })
    for (const [k, v] of Object.entries((err as { headers?: Record<string, string> }).headers ?? {})) void reply.header(k, v)
    ctx.metrics.httpError(body.code)
    if (status === 413) drainRefusedBody(req.raw, reply)
    return await reply.code(status).type('application/json').send(body)
  })
  app.setNotFoundHandler(async (req, reply) => {
    return await reply.code(404).type('application/json').send({ code: 'ERR_UNKNOWN_ROUTE', message: `no route ${req.method} ${req.url.split('?')[0]}` })
  })
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'cit-node HTTP API',
        version: '1',
        description: 'Every member of a cit-node mesh serves this API for the whole mesh. Reads are open on loopback and need a bearer token with the `read` role elsewhere; writes need a token with the `submit` role (`cit-node token create`). Errors are `{code, message}`.'
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) }
  })
  await app.register(websocket, { options: { maxPayload: MAX_WS_MESSAGE_BYTES } })
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  for (const m of modules) {
    await app.register(async scope => { await m.register(scope, ctx) }, { name: m.name } as never)
  }
  return app
}
