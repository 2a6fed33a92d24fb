import { MAX_EVENTS_PAGE } from './events.js'
import { checkTriggerRequest } from './trigger.js'
import type { ExtraRoutes } from '../control/server.js'
import type { Triggers } from './index.js'
import type { RepoAddBody } from './repo-registry.js'

/**
 * The control socket's trigger routes: `GET/POST /v1/repos`, `DELETE /v1/repos/NAME`,
 * `GET /v1/repos/stats`, `GET /v1/events?after=CURSOR` and `POST /v1/triggers` (the git hooks'; `wait: true` answers with the
 * jobs made, otherwise at once).
 */
export function triggerRoutes (t: Triggers): ExtraRoutes {
  return async (method, parts, body, query) => {
    const [a, b, c] = parts
    if (a === 'repos' && c == null) {
      if (method === 'GET' && b == null) return { value: await t.registry.list() }
      if (method === 'GET' && b === 'stats') return { value: t.stats() }
      if (method === 'POST' && b == null) return { value: await t.registry.add(await body() as RepoAddBody) }
      if (method === 'DELETE' && b != null) return { value: await t.registry.remove(b) }
    }
    if (a === 'events' && b == null && method === 'GET') return { value: await t.events(Number(query.get('after') ?? '0'), Number(query.get('limit') ?? MAX_EVENTS_PAGE)) }
    if (a === 'triggers' && b == null && method === 'POST') {
      const raw = await body() as Record<string, unknown> | null
      const req = checkTriggerRequest(raw)
      if (t.registry.get(req.repo) == null) return { value: await t.fireNow(req) }
      if (raw?.wait === true) return { value: await t.fireNow(req) }
      t.fire(req, String(raw?.via ?? 'control'))
      return { value: { accepted: true, repo: req.repo, commit: req.commit, ref: req.ref } }
    }
    return undefined
  }
}
