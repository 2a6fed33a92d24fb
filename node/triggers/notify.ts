/**
 * Notifications of results (`notify` in config.json): a JSON document POSTed to a URL, or a
 * Matrix room message, for the jobs submitted on this node, so each is sent by exactly one member.
 * `fixed` and `broken` compare with the previous build of the same name. Each rule's message for a
 * job is sent once (kept across restarts), with retries; Matrix's transaction id makes a resend
 * after a crash a no-op for the room.
 */
import { readFile } from 'node:fs/promises'
import { deliver } from './deliver.js'
import type { MetaStore } from '../../store/meta/index.js'
import type { Logger } from '../../store/logger.js'
import type { JobService } from '../jobs/job-service.js'
import type { JobRow } from '../jobs/types.js'
import type { NotifyEvent, NotifyRule } from './notify-config.js'

const T_SENT = 'notify-sent'
/** how many of the newest jobs are looked through for the previous build of a name */
export const PREVIOUS_SCAN_LIMIT = 2000

/** the document an `http` rule posts */
export interface Notification {
  job: string
  name: string
  build: number | null
  state: string
  reason: string | null
  /** which of the rule's events this result is */
  events: NotifyEvent[]
  repo: string | null
  commit: string | null
  ref: string | null
  /** the job's page, when the HTTP face has a public URL */
  link: string | null
  at: number
}

const outcomeOf = (state: string): 'success' | 'failure' | undefined =>
  state === 'succeeded' ? 'success' : state === 'failed' || state === 'timed-out' ? 'failure' : undefined

export interface NotifierComponents {
  jobs: JobService
  meta: MetaStore
  logger: Logger
  jobUrl: (id: string) => string | undefined
}

export class Notifier {
  private readonly controller = new AbortController()
  private readonly inFlight = new Set<string>()
  private readonly counts = new Map<string, number>()

  constructor (private readonly c: NotifierComponents, private readonly init: { rules: NotifyRule[], self: string, retryBaseMs?: number }) {}

  stop (): void { this.controller.abort(new Error('the daemon is stopping')) }

  stats (): Record<string, number> { return Object.fromEntries(this.counts) }

  onChange (row: JobRow): void {
    if ((this.init.rules.length === 0 && row.spec.notify == null) || row.origin !== this.init.self || outcomeOf(row.state) == null) return
    if (this.inFlight.has(row.id)) return
    this.inFlight.add(row.id)
    this.notify(row).catch(err => { this.c.logger.warn('notification failed', { job: row.id, err }) })
  }

  /** success or failure, and fixed or broken against the previous build of the name */
  async eventsOf (row: JobRow): Promise<NotifyEvent[]> {
    const now = outcomeOf(row.state)!
    const events: NotifyEvent[] = [now]
    const before = await this.previous(row)
    if (before === 'failure' && now === 'success') events.push('fixed')
    if (before === 'success' && now === 'failure') events.push('broken')
    return events
  }

  private async previous (row: JobRow): Promise<'success' | 'failure' | undefined> {
    let seen = 0
    for await (const other of this.c.jobs.store.list({ newestFirst: true, signal: this.controller.signal })) {
      if (++seen > PREVIOUS_SCAN_LIMIT) break
      if (other.name !== row.name || other.id === row.id) continue
      const earlier = row.build != null && other.build != null ? other.build < row.build : other.submittedAt < row.submittedAt
      const outcome = outcomeOf(other.state)
      if (earlier && outcome != null) return outcome
    }
    return undefined
  }

  private async notify (row: JobRow): Promise<void> {
    const events = await this.eventsOf(row)
    const sent = this.c.meta.table<number>(T_SENT)
    // the node's rules, then the job file's own (http only)
    const rules: Array<[string, NotifyRule]> = [...this.init.rules.map((r, i): [string, NotifyRule] => [String(i), r]), ...(row.spec.notify ?? []).map((r, i): [string, NotifyRule] => [`job${i}`, r])]
    for (const [i, rule] of rules) {
      const matched = events.filter(e => rule.on.includes(e))
      const key = `${row.id}:${i}`
      if (matched.length === 0 || await sent.has(key)) continue
      const doc: Notification = {
        job: row.id,
        name: row.name,
        build: row.build ?? null,
        state: row.state,
        reason: row.reason ?? null,
        events: matched,
        repo: row.source?.repo ?? null,
        commit: row.source?.commit ?? null,
        ref: row.source?.ref ?? null,
        link: this.c.jobUrl(row.id) ?? null,
        at: Date.now()
      }
      const result = rule.http != null ? await this.postHttp(rule.http, doc) : await this.postMatrix(rule.matrix!, doc, key)
      this.count(`${rule.http != null ? 'http' : 'matrix'}-${result}`)
      if (result === 'posted') await this.c.meta.batch([{ type: 'put', table: T_SENT, key, value: Date.now() }])
      else if (result !== 'stopped') this.c.logger.warn('a notification was not delivered', { job: row.id, rule: i, result })
    }
  }

  private async postHttp (url: string, doc: Notification): Promise<string> {
    const r = await deliver(url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'cit-node' }, body: JSON.stringify(doc) }, { signal: this.controller.signal, retryBaseMs: this.init.retryBaseMs })
    return r.result
  }

  private async postMatrix (m: NonNullable<NotifyRule['matrix']>, doc: Notification, key: string): Promise<string> {
    let token: string
    try {
      token = (await readFile(m.tokenFile, 'utf8')).split(/\r?\n/)[0].trim()
    } catch (err: any) {
      this.c.logger.warn('the Matrix token file cannot be read', { file: m.tokenFile, code: err?.code })
      return 'no-token'
    }
    const text = `${doc.name}${doc.build != null ? ` #${doc.build}` : ''} ${doc.state}${doc.events.includes('fixed') ? ' (fixed)' : doc.events.includes('broken') ? ' (broken)' : ''}` +
      `${doc.reason != null ? `: ${doc.reason}` : ''}${doc.commit != null ? ` at ${doc.commit.slice(0, 12)}` : ''}${doc.link != null ? ` ${doc.link}` : ''}`
    // the same transaction id for the same job and rule: Matrix keeps one message however often it is sent
    const txn = `cit-${key.replace(/[^A-Za-z0-9]/g, '-')}`
    const url = `${m.homeserver.replace(/\/+$/, '')}/_matrix/client/v3/rooms/${encodeURIComponent(m.room)}/send/m.room.message/${txn}`
    const r = await deliver(url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'user-agent': 'cit-node' },
      body: JSON.stringify({ msgtype: 'm.text', body: text })
    }, { signal: this.controller.signal, retryBaseMs: this.init.retryBaseMs })
    return r.result
  }

  private count (what: string): void { this.counts.set(what, (this.counts.get(what) ?? 0) + 1) }
}
