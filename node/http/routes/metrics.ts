import type { HttpModule } from '../context.js'

/** `/metrics`: the Prometheus text format (reads: open on loopback, a read token elsewhere). */
export const metrics: HttpModule = {
  name: 'metrics',
  async register (app, ctx) {
    app.get('/metrics', {
      onRequest: ctx.auth.require('read'),
      schema: { tags: ['metrics'], summary: 'Prometheus metrics of this node, names prefixed cit_ (see docs/web.md)', produces: ['text/plain'] }
    }, async (_req, reply) => {
      const text = await ctx.metrics.render()
      return await reply.type(ctx.metrics.contentType).header('cache-control', 'no-store').send(text)
    })
  }
}
