/**
 * Triggers: repositories registered with the mesh, git hooks and forge webhooks that build pushed
 * commits, build numbers, and commit statuses back to the forge (docs/triggers.md). One object
 * the daemon wires in: its record handler for Ingest, its routes for the control socket and the
 * HTTP face, and a `submit` it calls back for each job.
 */
import { join } from 'node:path'
import { BuildNumbers } from './build-numbers.js'
import { triggerRoutes } from './control.js'
import { readEvents } from './events.js'
import { RepoCache } from './git.js'
import { takeQueued } from './queue.js'
import { RepoRegistry } from './repo-registry.js'
import { Exporter } from './export.js'
import { Notifier } from './notify.js'
import { StatusReporter } from './statuses.js'
import { checkTriggerRequest, Trigger } from './trigger.js'
import { webhookModule } from './webhooks.js'
import type { Identity, Signed } from '../../protocols/codec/index.js'
import type { JobSource } from '../../protocols/job/source.js'
import type { JobSpec } from '../../protocols/job/types.js'
import { DeliveryLedger } from './deliveries.js'
import type { MetaStore, RecordLog } from '../../store/meta/index.js'
import type { Logger } from '../../store/logger.js'
import type { ExtraRoutes } from '../control/server.js'
import type { HttpModule } from '../http/context.js'
import type { JobService } from '../jobs/job-service.js'
import type { EventsPage } from './events.js'
import type { ExportConfig } from './export.js'
import type { NotifyRule } from './notify-config.js'
import type { TriggerOutcome, TriggerRequest } from './trigger.js'

export { RepoRegistry } from './repo-registry.js'
export type { RepoView } from './repo-registry.js'
export { checkTriggerRequest } from './trigger.js'


export interface TriggersComponents {
  identity: Identity
  meta: MetaStore
  recordLog: RecordLog
  jobs: JobService
  /** the node's home: the repository caches and the hook queue live there */
  home: string
  /** submit a job of a trigger as this node (the daemon's submit: roles, validation) */
  submit: (body: { spec: JobSpec, source: JobSource }) => Promise<{ id: string, name: string }>
  publish: (signed: Signed<unknown>) => void
  mayRegister: (keyId: string) => boolean
  /** the mesh's id (none alone) */
  mesh?: () => string | null
  /** `notify`, `export` and `http.publicUrl` (the job's page in statuses and notifications) of config.json */
  config: { notify?: NotifyRule[], export?: ExportConfig, publicUrl?: string }
  logger: (scope: string) => Logger
}

export class Triggers {
  readonly registry: RepoRegistry
  readonly builds: BuildNumbers
  readonly statuses: StatusReporter
  readonly notifier: Notifier
  readonly exporter?: Exporter
  private readonly trigger: Trigger
  private readonly log: Logger
  private readonly counts = new Map<string, number>()
  private readonly deliveries: DeliveryLedger
  private readonly controller = new AbortController()
  private readonly onChange = (row: Parameters<StatusReporter['onChange']>[0]): void => {
    this.statuses.onChange(row)
    this.notifier.onChange(row)
    this.exporter?.onChange(row)
  }

  constructor (private readonly c: TriggersComponents, init: { statusRetryBaseMs?: number } = {}) {
    this.log = c.logger('triggers')
    const publicUrl = c.config.publicUrl?.replace(/\/+$/, '')
    const jobUrl = (id: string): string | undefined => publicUrl != null ? `${publicUrl}/jobs/${id}` : undefined
    this.registry = new RepoRegistry({ identity: c.identity, meta: c.meta, recordLog: c.recordLog, publish: c.publish, mayRegister: c.mayRegister, mesh: c.mesh, logger: this.log })
    this.builds = new BuildNumbers({ jobs: c.jobs })
    this.deliveries = new DeliveryLedger({ meta: c.meta })
    this.statuses = new StatusReporter({ registry: this.registry, meta: c.meta, logger: c.logger('statuses'), jobUrl }, { self: c.identity.id, retryBaseMs: init.statusRetryBaseMs })
    this.notifier = new Notifier({ jobs: c.jobs, meta: c.meta, logger: c.logger('notify'), jobUrl }, { rules: c.config.notify ?? [], self: c.identity.id, retryBaseMs: init.statusRetryBaseMs })
    if (c.config.export != null) this.exporter = new Exporter({ logger: c.logger('export') }, { ...c.config.export, self: c.identity.id, retryBaseMs: init.statusRetryBaseMs })
    this.trigger = new Trigger({ registry: this.registry, cache: new RepoCache(join(c.home, 'repos')), statuses: this.statuses, submit: c.submit, logger: this.log })
  }

  async start (): Promise<void> {
    await this.registry.start()
    this.builds.start()
    this.c.jobs.on('change', this.onChange)
  }

  /** once the daemon serves: send what hooks queued while it was down */
  async sendQueued (): Promise<void> {
    for (const raw of await takeQueued(this.c.home)) {
      try {
        this.fire(checkTriggerRequest(raw), 'queued hook')
      } catch (err) {
        this.log.warn('a queued trigger was dropped', { err })
      }
    }
  }

  stop (): void {
    this.controller.abort(new Error('the daemon is stopping'))
    this.c.jobs.off('change', this.onChange)
    this.builds.stop()
    this.statuses.stop()
    this.notifier.stop()
    this.exporter?.stop()
  }

  /** build now and wait for the jobs (control socket) */
  async fireNow (req: TriggerRequest): Promise<TriggerOutcome> {
    return await this.trigger.fire(req, { signal: this.controller.signal })
  }

  /** build in the background (hooks and webhooks answer at once) */
  fire (req: TriggerRequest, via: string): void {
    this.log.info('trigger', { via, repo: req.repo, commit: req.commit, ref: req.ref })
    this.fireNow(req).catch(err => {
      this.count('failed')
      this.log.warn('a trigger failed', { repo: req.repo, commit: req.commit, err })
      const repo = this.registry.get(req.repo)
      if (repo?.forge != null && err?.code === 'ERR_GIT') {
        this.statuses.post({ key: `${repo.name}@${req.commit}`, repo, commit: req.commit, state: 'error', context: `cit-node/${repo.name}`, description: String(err.message) })
      }
    })
  }

  /** job records after a cursor (`cit-node events`) */
  async events (after: number, limit: number): Promise<EventsPage> { return await readEvents(this.c.recordLog, after, limit) }

  count (reason: string): void { this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1) }

  stats (): Record<'webhooks' | 'statuses' | 'notifications' | 'export', Record<string, number>> {
    return { webhooks: Object.fromEntries(this.counts), statuses: this.statuses.stats(), notifications: this.notifier.stats(), export: this.exporter?.stats() ?? {} }
  }

  httpModules (): HttpModule[] {
    return [webhookModule({
      registry: this.registry,
      fire: (req, via) => { this.fire(req, via) },
      count: reason => { this.count(reason) },
      firstDelivery: async (repo, id, body) => await this.deliveries.take(repo, id, body)
    })]
  }

  /** `/v1/repos…` and `/v1/triggers` on the control socket */
  get controlRoutes (): ExtraRoutes { return triggerRoutes(this) }
}
