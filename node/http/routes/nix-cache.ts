import { Readable } from 'node:stream'
import { errors } from '../schemas.js'
import type { HttpModule } from '../context.js'

const tags = ['nix']
const text = (what: string): Record<string, unknown> => ({ description: what, type: 'string' })

/**
 * `/nix/`: the Nix outputs the mesh holds, as a read-only binary cache in the layout of Nix's
 * HTTP binary cache substituter (`nix-cache-info`, `<hash>.narinfo`, `nar/<file>.nar`), so
 * `--option substituters http://HOST:PORT/nix` works against any member. Reads under the face's
 * read policy; Nix sends a token from its netrc file as the password of Basic authentication.
 */
export const nixCache: HttpModule = {
  name: 'nix-cache',
  async register (app, ctx) {
    const h = ctx.handlers
    const read = ctx.auth.require('read')

    app.get('/nix/nix-cache-info', {
      onRequest: read,
      schema: { tags, summary: 'the Nix binary cache\'s description: store directory, priority', produces: ['text/x-nix-cache-info'], response: { 200: text('text/x-nix-cache-info'), ...errors(401) } }
    }, async (_req, reply) => await reply.type('text/x-nix-cache-info').header('cache-control', 'no-cache').send(h.nixCacheInfo()))

    app.get<{ Params: { hash: string } }>('/nix/:hash.narinfo', {
      onRequest: read,
      schema: {
        tags,
        summary: 'the narinfo of a store path the mesh built, signed with this node\'s Nix cache key (the closure is fetched from its holder if need be)',
        params: { type: 'object', properties: { hash: { type: 'string', maxLength: 64, description: 'the hash part of the store path (32 characters of Nix\'s base32)' } }, required: ['hash'] },
        produces: ['text/x-nix-narinfo'],
        response: { 200: text('text/x-nix-narinfo'), ...errors(400, 401, 404, 503) }
      }
    }, async (req, reply) => {
      const body = await h.nixNarinfo(req.params.hash, abortOnClose(reply.raw, ctx.signal))
      return await reply.type('text/x-nix-narinfo').header('cache-control', 'no-cache').send(body)
    })

    app.get<{ Params: { file: string } }>('/nix/nar/:file', {
      onRequest: read,
      schema: {
        tags,
        summary: 'a NAR, uncompressed, by the file name its narinfo gives (`URL:`)',
        params: { type: 'object', properties: { file: { type: 'string', maxLength: 200, description: '`<NAR hash in Nix\'s base32>-<closure sha256>.nar`' } }, required: ['file'] },
        produces: ['application/x-nix-nar'],
        response: { 200: text('application/x-nix-nar'), ...errors(401, 404, 503) }
      }
    }, async (req, reply) => {
      const nar = await h.nixNar(req.params.file, abortOnClose(reply.raw, ctx.signal))
      void reply.type('application/x-nix-nar').header('content-length', String(nar.size))
      // named by its content: it never changes
      void reply.header('cache-control', 'public, max-age=31536000, immutable')
      return await reply.send(req.method === 'HEAD' ? Readable.from([]) : Readable.from(nar.stream))
    })
  }
}

/** a signal that aborts when the response closes (the client went away, or it was sent) or the face stops */
function abortOnClose (res: NodeJS.EventEmitter, stopping: AbortSignal): AbortSignal {
  const controller = new AbortController()
  res.once('close', () => { controller.abort(new Error('the response is closed')) })
  return AbortSignal.any([controller.signal, stopping])
}
