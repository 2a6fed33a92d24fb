/**
 * Commit statuses back to the forge (GitHub, Forgejo/Gitea: the same `POST
 * {api}/repos/{owner}/{repo}/statuses/{sha}`). Only the node a triggered job was submitted on
 * posts, so each status is posted by exactly one member; each state of a job at most once (kept
 * in LevelDB across restarts); retried with backoff on 5xx and network errors; a 401/403/404 is
 * logged with its reason and counted, never retried.
 */
import { deliver } from './deliver.js'
import type { MetaStore } from '../../store/meta/index.js'
import type { Logger } from '../../store/logger.js'
import type { JobRow } from '../jobs/types.js'
import type { RepoRegistry } from './repo-registry.js'
import type { RepoRecord } from './repo-record.js'

export const GITHUB_API = 'https://api.github.com'
const T_POSTED = 'status-posted'

export type CommitState = 'pending' | 'success' | 'failure' | 'error'

/** the commit state a job's state is posted as (undefined: nothing to post) */
export function commitState (state: JobRow['state']): CommitState | undefined {
  switch (state) {
    case 'queued': case 'claimed': case 'running': return 'pending'
    case 'succeeded': return 'success'
    case 'failed': case 'timed-out': return 'failure'
    case 'cancelled': case 'superseded': return 'error'
  }
}

export interface StatusPost {
  /** a job id, or the repository name for a trigger that made no job */
  key: string
  repo: RepoRecord
  commit: string
  state: CommitState
  context: string
  description: string
  targetUrl?: string
}

export interface StatusReporterComponents {
  registry: RepoRegistry
  meta: MetaStore
  logger: Logger
  /** the page of a job on the HTTP face, when `http.publicUrl` is set */
  jobUrl: (id: string) => string | undefined
}

/** Posts commit statuses for the triggered jobs submitted on this node. */
export class StatusReporter {
  private readonly controller = new AbortController()
  private readonly counts = new Map<string, number>()
  /** posts in flight, by `key:state` (once one has settled, the stored set says whether it went out) */
  private readonly inFlight = new Set<string>()
  private readonly chains = new Map<string, Promise<void>>()

  constructor (private readonly c: StatusReporterComponents, private readonly init: { retryBaseMs?: number, self: string } ) {}

  stop (): void { this.controller.abort(new Error('the daemon is stopping')) }

  stats (): Record<string, number> { return Object.fromEntries(this.counts) }

  /** a job changed: post its commit state when it is one of this node's triggered jobs */
  onChange (row: JobRow): void {
    const state = commitState(row.state)
    if (row.source == null || row.origin !== this.init.self || state == null) return
    const repo = this.c.registry.get(row.source.repo)
    if (repo?.forge == null) return
    const description = state === 'pending' ? (row.state === 'queued' ? 'queued' : 'running') : `${row.state}${row.reason != null ? `: ${row.reason}` : ''}`
    this.post({ key: row.id, repo, commit: row.source.commit, state, context: `cit-node/${row.name}`, description, targetUrl: this.c.jobUrl(row.id) })
  }

  /** post one status in the background, at most once per key and state */
  post (p: StatusPost): void {
    const once = `${p.key}:${p.state}`
    if (this.inFlight.has(once)) return
    this.inFlight.add(once)
    // one job's states go out in order: a slow `pending` never lands after `success`
    const next = (this.chains.get(p.key) ?? Promise.resolve()).then(async () => { await this.send(p, once) })
      .catch(err => { this.c.logger.warn('commit status not posted', { repo: p.repo.name, err }) })
      .finally(() => { this.inFlight.delete(once) })
    this.chains.set(p.key, next)
    void next.finally(() => { if (this.chains.get(p.key) === next) this.chains.delete(p.key) })
  }

  private count (what: string): void { this.counts.set(what, (this.counts.get(what) ?? 0) + 1) }

  private async send (p: StatusPost, once: string): Promise<void> {
    const posted = this.c.meta.table<number>(T_POSTED)
    if (await posted.has(once)) return
    const { token, changed } = await this.c.registry.secrets(p.repo.name)
    if (token == null) { this.count(changed ? 'record-changed' : 'no-token'); return }
    const api = (p.repo.apiUrl ?? GITHUB_API).replace(/\/+$/, '')
    const url = `${api}/repos/${p.repo.project!}/statuses/${p.commit}`
    const body = JSON.stringify({ state: p.state, context: p.context, description: p.description.slice(0, 140), ...(p.targetUrl != null ? { target_url: p.targetUrl } : {}) })
    const auth = p.repo.forge === 'github' ? `Bearer ${token}` : `token ${token}`
    const signal = this.controller.signal
    const r = await deliver(url, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json', accept: 'application/vnd.github+json', 'user-agent': 'cit-node' },
      body
    }, { signal, retryBaseMs: this.init.retryBaseMs })
    for (const f of r.failures) this.count(f === 0 ? 'network-error' : `http-${f}`)
    if (r.result === 'refused') this.c.logger.warn('the forge refused a commit status: check the token and the project', { repo: p.repo.name, project: p.repo.project, status: r.status })
    const outcome = r.result === 'gave up' || r.result === 'stopped' ? r.result : `${r.result} (${r.status})`
    if (signal.aborted) return
    if (outcome.startsWith('posted')) {
      await this.c.meta.batch([{ type: 'put', table: T_POSTED, key: once, value: Date.now() }])
      this.count('posted')
    }
    await this.c.registry.setLocal(p.repo.name, { lastStatus: { at: Date.now(), job: p.key, commit: p.commit, state: p.state, outcome } })
  }
}
