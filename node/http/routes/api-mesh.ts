import { errors } from '../schemas.js'
import type { HttpModule } from '../context.js'

const tags = ['mesh']

/** The mesh: members (as `peers --json`), this node, and who the caller is to this node. */
export const apiMesh: HttpModule = {
  name: 'api-mesh',
  async register (app, ctx) {
    const h = ctx.handlers
    const read = ctx.auth.require('read')

    app.get('/api/v1/peers', {
      onRequest: read,
      schema: { tags, summary: 'every known member with its last load report (as `peers --json`); [] outside a mesh', response: { 200: { type: 'array', items: { $ref: 'Peer#' } }, ...errors(401) } }
    }, async () => {
      const status = await h.status()
      return status.mesh == null ? [] : await h.peers()
    })

    app.get('/api/v1/node', {
      onRequest: read,
      schema: {
        tags,
        summary: 'this node: peer id, mesh, state, roles, labels, load, running jobs',
        response: {
          200: {
            type: 'object',
            additionalProperties: true,
            properties: {
              peerId: { type: 'string' },
              mesh: { type: 'string', nullable: true },
              state: { type: 'string' },
              roles: { type: 'array', items: { type: 'string' } },
              labels: { type: 'array', items: { type: 'string' } },
              addrs: { type: 'array', items: { type: 'string' } },
              load: { type: 'object', additionalProperties: true },
              running: { type: 'array', items: { type: 'string' } },
              connected: { type: 'integer' },
              startedAt: { type: 'integer' }
            }
          },
          ...errors(401)
        }
      }
    }, async () => {
      // the home directory and message counters stay on the control socket
      const { home: _home, messages: _m, dropped: _d, pid: _p, ...rest } = await h.status()
      return rest
    })

    app.get('/api/v1/whoami', {
      schema: {
        tags,
        summary: 'what the caller may do here: read (loopback or a token) and submit (a submit token)',
        response: {
          200: {
            type: 'object',
            properties: {
              local: { type: 'boolean' },
              role: { type: 'string', nullable: true, enum: ['read', 'submit', null] },
              tokenId: { type: 'string', nullable: true },
              expiresAt: { type: 'integer', nullable: true },
              read: { type: 'boolean' },
              submit: { type: 'boolean' }
            }
          }
        }
      }
    }, async req => {
      const p = await ctx.auth.principal(req, { cookie: true })
      const role = p.token?.role ?? null
      return { local: p.local, role, tokenId: p.token?.id ?? null, expiresAt: p.token?.expiresAt ?? null, read: p.local || role != null, submit: role === 'submit' }
    })
  }
}
