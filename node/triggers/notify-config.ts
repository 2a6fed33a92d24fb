/** `notify` in config.json: who hears of which results of the jobs submitted on this node. */

export const NOTIFY_EVENTS = ['failure', 'success', 'fixed', 'broken'] as const
export type NotifyEvent = typeof NOTIFY_EVENTS[number]
/** most notification rules in a config */
export const MAX_NOTIFY_RULES = 16

export interface NotifyRule {
  on: NotifyEvent[]
  /** POST a JSON document here */
  http?: string
  /** send a room message through the Matrix client-server API */
  matrix?: { homeserver: string, room: string, tokenFile: string }
}

const URL_RE = /^https?:\/\/[^\s]+$/
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v != null && !Array.isArray(v)

/** check `notify` (one rule or a list), naming each problem by its dotted path */
export function checkNotifyConfig (raw: unknown, problems: Array<{ path: string, message: string }>): NotifyRule[] {
  const list = Array.isArray(raw) ? raw : [raw]
  if (list.length > MAX_NOTIFY_RULES) { problems.push({ path: 'notify', message: `at most ${MAX_NOTIFY_RULES} rules` }); return [] }
  const out: NotifyRule[] = []
  list.forEach((r, i) => {
    const at = Array.isArray(raw) ? `notify[${i}]` : 'notify'
    const before = problems.length
    if (!isObject(r)) { problems.push({ path: at, message: 'must be an object { on, http | matrix }' }); return }
    for (const k of Object.keys(r)) if (!['on', 'http', 'matrix'].includes(k)) problems.push({ path: `${at}.${k}`, message: 'unknown field (on, http, matrix)' })
    if (!Array.isArray(r.on) || r.on.length === 0 || !r.on.every(e => NOTIFY_EVENTS.includes(e))) problems.push({ path: `${at}.on`, message: `a list of ${NOTIFY_EVENTS.join(', ')}` })
    if ((r.http === undefined) === (r.matrix === undefined)) problems.push({ path: at, message: 'needs one of http or matrix' })
    if (r.http !== undefined && (typeof r.http !== 'string' || !URL_RE.test(r.http))) problems.push({ path: `${at}.http`, message: 'an http(s) URL' })
    if (r.matrix !== undefined) {
      const m = r.matrix
      if (!isObject(m)) problems.push({ path: `${at}.matrix`, message: 'must be { homeserver, room, tokenFile }' })
      else {
        for (const k of Object.keys(m)) if (!['homeserver', 'room', 'tokenFile'].includes(k)) problems.push({ path: `${at}.matrix.${k}`, message: 'unknown field (homeserver, room, tokenFile)' })
        if (typeof m.homeserver !== 'string' || !URL_RE.test(m.homeserver)) problems.push({ path: `${at}.matrix.homeserver`, message: 'an http(s) URL' })
        if (typeof m.room !== 'string' || !/^[!#][^\s:]+:\S+$/.test(m.room)) problems.push({ path: `${at}.matrix.room`, message: 'a room id (!id:server) or alias (#name:server)' })
        if (typeof m.tokenFile !== 'string' || !m.tokenFile.startsWith('/')) problems.push({ path: `${at}.matrix.tokenFile`, message: 'an absolute path' })
      }
    }
    if (problems.length === before) out.push(r as unknown as NotifyRule)
  })
  return out
}
