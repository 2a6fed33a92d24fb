/**
 * Webhooks of the forges on the HTTP face: `POST /hooks/github/NAME` and `POST
 * /hooks/forgejo/NAME` (Gitea's headers too). NAME is the registered repository, so its secret is
 * known before anything is read; the signature (HMAC-SHA256 of the exact body bytes) is checked
 * in constant time before the body is parsed. A refused delivery changes nothing and is counted
 * by reason; a repeated delivery (its id, or its exact body under any id or none: see
 * deliveries.ts) is answered 200 and ignored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { HttpError } from '../http/errors.js'
import { errors } from '../http/schemas.js'
import type { FastifyReply } from 'fastify'
import type { HttpModule } from '../http/context.js'
import type { RepoRegistry } from './repo-registry.js'
import { checkTriggerRequest } from './trigger.js'
import type { TriggerRequest } from './trigger.js'

/** the largest webhook body taken (GitHub caps its payloads at 25 MB; a push of many commits is far smaller) */
export const MAX_WEBHOOK_BYTES = 5 * 1024 * 1024
/** pull request actions that build the pull request's head */
export const PR_ACTIONS: ReadonlySet<string> = new Set(['opened', 'synchronize', 'reopened'])

export interface WebhookDeps {
  registry: RepoRegistry
  /** build (in the background): the delivery is answered before the fetch */
  fire: (req: TriggerRequest, via: string) => void
  /** whether this delivery (its id header if any, its raw body) is new; remembers it */
  firstDelivery: (repo: string, id: string | undefined, body: Buffer) => Promise<boolean>
  /** count a refused or ignored delivery by reason */
  count: (reason: string) => void
}

const HEADERS = {
  github: { signature: ['x-hub-signature-256'], event: ['x-github-event'], delivery: ['x-github-delivery'], prefix: 'sha256=' },
  forgejo: { signature: ['x-forgejo-signature', 'x-gitea-signature'], event: ['x-forgejo-event', 'x-gitea-event'], delivery: ['x-forgejo-delivery', 'x-gitea-delivery'], prefix: '' }
} as const
type ForgeName = keyof typeof HEADERS

function header (headers: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const n of names) if (typeof headers[n] === 'string') return headers[n] as string
  return undefined
}

/** whether `signature` (hex, with the forge's prefix) is the HMAC-SHA256 of `body` under `secret` */
export function signatureMatches (secret: string, body: Buffer, signature: string | undefined, prefix: string): boolean {
  if (signature == null || !signature.startsWith(prefix)) return false
  const given = Buffer.from(signature.slice(prefix.length), 'hex')
  const expected = createHmac('sha256', secret).update(body).digest()
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** the trigger a push or pull_request payload asks for; undefined: nothing to build; throws on a malformed payload */
export function triggerOf (repo: string, event: string, payload: any): TriggerRequest | undefined {
  const malformed = (what: string): never => { throw new HttpError('ERR_INVALID_INPUT', `malformed ${event} payload: ${what}`) }
  if (payload == null || typeof payload !== 'object') malformed('not a JSON object')
  if (event === 'push') {
    if (typeof payload.ref !== 'string' || typeof payload.after !== 'string') malformed('no ref or after')
    if (payload.deleted === true) return undefined
    return { repo, commit: payload.after, ref: payload.ref }
  }
  const pr = payload.pull_request
  if (typeof payload.action !== 'string' || pr == null || typeof pr !== 'object') malformed('no action or pull_request')
  if (!PR_ACTIONS.has(payload.action)) return undefined
  const number = payload.number ?? pr.number
  if (!Number.isSafeInteger(number) || typeof pr.head?.sha !== 'string') malformed('no number or head.sha')
  return { repo, commit: pr.head.sha, ref: `refs/pull/${String(number)}/head`, pr: number }
}

async function answer (reply: FastifyReply, status: number, body: Record<string, unknown>): Promise<FastifyReply> {
  return await reply.code(status).type('application/json').send(body)
}

/** the webhook routes, on the same HTTP face as the pages and the API */
export function webhookModule (deps: WebhookDeps): HttpModule {
  return {
    name: 'webhooks',
    async register (app) {
      // the exact bytes are what is signed: no parser runs before the signature is checked
      app.removeAllContentTypeParsers()
      app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_WEBHOOK_BYTES }, (_req, body, done) => { done(null, body) })
      app.post<{ Params: { forge: string, name: string } }>('/hooks/:forge/:name', {
        bodyLimit: MAX_WEBHOOK_BYTES,
        schema: {
          tags: ['webhooks'],
          summary: `a forge's webhook for a registered repository: forge is github or forgejo (Gitea's headers too); signed with the repository's secret (HMAC-SHA256 of the body); push and pull_request (${[...PR_ACTIONS].join(', ')}) build, ping answers; body at most ${MAX_WEBHOOK_BYTES} bytes`,
          params: { type: 'object', properties: { forge: { type: 'string', enum: ['github', 'forgejo'] }, name: { type: 'string', maxLength: 64 } }, required: ['forge', 'name'] },
          response: {
            200: { description: 'a ping, a replayed delivery or an event with nothing to build', type: 'object', additionalProperties: true },
            202: { description: 'accepted: the commit is fetched and built', type: 'object', additionalProperties: true },
            ...errors(400, 401, 404, 413)
          }
        }
      }, async (req, reply) => {
        const forge = req.params.forge as ForgeName
        const h = HEADERS[forge]
        const repo = deps.registry.get(req.params.name)
        if (repo == null || (repo.forge != null && repo.forge !== forge)) {
          deps.count('unknown-repo')
          throw new HttpError('ERR_REPO_NOT_FOUND', `no repository named ${JSON.stringify(req.params.name)} takes ${forge} webhooks here`)
        }
        const { secret, changed } = await deps.registry.secrets(repo.name)
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
        if (secret == null || !signatureMatches(secret, body, header(req.headers, h.signature), h.prefix)) {
          deps.count(secret == null ? (changed ? 'record-changed' : 'no-secret') : 'bad-signature')
          throw new HttpError('ERR_UNAUTHORIZED', secret == null ? 'this node has no webhook secret for the repository (`repo add --secret-file`)' : 'the webhook signature is missing or wrong')
        }
        const event = header(req.headers, h.event) ?? ''
        const delivery = header(req.headers, h.delivery)
        const record = async (outcome: string): Promise<void> => {
          await deps.registry.setLocal(repo.name, { lastDelivery: { at: Date.now(), id: delivery, event, outcome } })
        }
        if (event === 'ping') { await record('pong'); return await answer(reply, 200, { ok: true, event }) }
        if (event !== 'push' && event !== 'pull_request') {
          deps.count('unknown-event')
          throw new HttpError('ERR_INVALID_INPUT', `event ${JSON.stringify(event)} is not built (push, pull_request and ping are)`)
        }
        let payload: unknown
        try {
          payload = JSON.parse(body.toString('utf8'))
        } catch {
          deps.count('malformed')
          throw new HttpError('ERR_INVALID_INPUT', 'the payload is not JSON (set the webhook\'s content type to application/json)')
        }
        let trigger: TriggerRequest | undefined
        try {
          trigger = triggerOf(repo.name, event, payload)
          if (trigger != null) trigger = checkTriggerRequest(trigger)
        } catch (err) {
          deps.count('malformed')
          throw err
        }
        if (!await deps.firstDelivery(repo.name, delivery, body)) {
          deps.count('replayed')
          return await answer(reply, 200, { ok: true, ignored: 'a delivery already taken' })
        }
        if (trigger == null) { await record('nothing to build'); return await answer(reply, 200, { ok: true, ignored: 'nothing to build' }) }
        deps.fire(trigger, forge)
        await record('accepted')
        return await answer(reply, 202, { ok: true, accepted: { commit: trigger.commit, ref: trigger.ref } })
      })
    }
  }
}
