/**
 * `notify` in a job file: who hears of this job's results. Only `http` (a JSON document POSTed to a
 * URL): a job file may come from any repository, and a Matrix rule would name a token file on the
 * submitting node. The node's config has both (docs/triggers.md#notifications).
 */
import { isPlainObject } from './check.js'
import type { Checker } from './check.js'
import type { PathSegment } from './values.js'

export const JOB_NOTIFY_EVENTS = ['failure', 'success', 'fixed', 'broken'] as const
export const MAX_JOB_NOTIFY_RULES = 8
const MAX_URL_CHARS = 2048

export interface JobNotifyRule {
  on: Array<typeof JOB_NOTIFY_EVENTS[number]>
  http: string
}

/** one rule or a list of them, each `{ on: [events], http: URL }` */
export function checkJobNotify (ck: Checker, raw: unknown, segments: PathSegment[]): JobNotifyRule[] | undefined {
  const list = Array.isArray(raw) ? raw : [raw]
  if (list.length === 0 || list.length > MAX_JOB_NOTIFY_RULES) {
    ck.add(segments, `one to ${MAX_JOB_NOTIFY_RULES} rules { on, http }`)
    return undefined
  }
  const before = ck.count
  const out: JobNotifyRule[] = []
  list.forEach((r, i) => {
    const at = Array.isArray(raw) ? [...segments, i] : segments
    if (!isPlainObject(r)) { ck.add(at, 'must be { on: [events], http: URL }'); return }
    for (const k of Object.keys(r)) {
      if (k === 'matrix') ck.add([...at, k], 'a job file notifies over http only (Matrix rules live in the node\'s config.json)')
      else if (k !== 'on' && k !== 'http') ck.add([...at, k], 'unknown field (on, http)')
    }
    const on = r.on
    if (!Array.isArray(on) || on.length === 0 || !on.every(e => (JOB_NOTIFY_EVENTS as readonly unknown[]).includes(e))) ck.add([...at, 'on'], `a list of ${JOB_NOTIFY_EVENTS.join(', ')}`)
    if (typeof r.http !== 'string' || r.http.length > MAX_URL_CHARS || !/^https?:\/\/[^\s]+$/.test(r.http)) ck.add([...at, 'http'], 'an http(s) URL')
    if (ck.count === before) out.push({ on: [...new Set(on as JobNotifyRule['on'])], http: r.http as string })
  })
  return ck.count === before ? out : undefined
}
