import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { JOB_STATES, isFinal } from '../../protocols/job/records.js'
import type { JobState } from '../../protocols/job/records.js'
import type { ControlHandlers } from '../control/types.js'
import type { Logger } from '../../store/logger.js'

/** claim latency buckets (seconds): a claim takes tens of ms on an idle mesh, minutes behind a queue */
export const CLAIM_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800]
/**
 * ended jobs whose ids the tally keeps, newest last, so that a late event of one (a peer's event
 * recorded after the result) is not counted twice; older ended jobs are only counted
 */
export const ENDED_IDS_KEPT = 4096
/** run time buckets (seconds) */
export const RUN_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200]

type Handlers = Pick<ControlHandlers, 'status' | 'peers' | 'findJobs' | 'watchJobs'>

/**
 * The node's Prometheus metrics (`/metrics`), names prefixed `cit_`. Job figures come from the
 * job events this node records (its own and its peers'), so every member shows the whole mesh's
 * jobs; transfer, message and peer figures are this node's own. Counters kept elsewhere (bytes
 * served, drops by reason) are read at each scrape and added as they grew.
 */
export class HttpMetrics {
  readonly registry = new Registry()
  private readonly states = new JobStateTally()
  private readonly totals = new Map<string, number>()
  private unwatch?: () => void
  private readonly jobs: Gauge
  private readonly claim: Histogram
  private readonly run: Histogram
  private readonly leaseOps: Counter
  private readonly fetched: Counter
  private readonly served: Counter
  private readonly dropped: Counter
  private readonly peers: Gauge
  private readonly connected: Gauge
  private readonly errors: Counter
  readonly wsViewers: Gauge
  readonly wsDropped: Counter

  constructor (private readonly c: { handlers: Handlers, self: () => string, logger: Logger }) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'cit_' })
    const states = this.states
    this.jobs = new Gauge({
      name: 'cit_jobs',
      help: 'jobs this node knows, by state',
      labelNames: ['state'],
      registers,
      collect () {
        const counts = states.counts()
        for (const s of JOB_STATES) this.set({ state: s }, counts[s])
      }
    })
    // registered in the registry, read through its collect()
    new Gauge({
      name: 'cit_queue_length',
      help: 'jobs queued and not yet claimed, mesh-wide as this node knows them',
      registers,
      collect () { this.set(states.counts().queued) }
    })
    this.claim = new Histogram({ name: 'cit_job_claim_latency_seconds', help: 'from submission to a claim, per claim event', buckets: CLAIM_BUCKETS, registers })
    this.run = new Histogram({ name: 'cit_job_run_seconds', help: 'wall time of finished runs, by outcome', labelNames: ['state'], buckets: RUN_BUCKETS, registers })
    this.leaseOps = new Counter({ name: 'cit_lease_operations_total', help: 'lease operations of this node: claims won, leases lost, expired leases taken over', labelNames: ['op'], registers })
    this.fetched = new Counter({ name: 'cit_bytes_fetched_total', help: 'blob bytes this node downloaded from other members', registers })
    this.served = new Counter({ name: 'cit_bytes_served_total', help: 'blob bytes this node served to other members', registers })
    this.dropped = new Counter({ name: 'cit_messages_dropped_total', help: 'messages from peers dropped, by reason', labelNames: ['reason'], registers })
    this.peers = new Gauge({ name: 'cit_peers', help: 'members by the state their last load report gives', labelNames: ['state'], registers })
    this.connected = new Gauge({ name: 'cit_peers_connected', help: 'members connected now', registers })
    this.errors = new Counter({ name: 'cit_http_errors_total', help: 'error replies of the HTTP face, by code', labelNames: ['code'], registers })
    this.wsViewers = new Gauge({ name: 'cit_http_live_viewers', help: 'websocket viewers of live jobs now', registers })
    this.wsDropped = new Counter({ name: 'cit_http_live_dropped_total', help: 'websocket viewers dropped, by reason', labelNames: ['reason'], registers })
  }

  /** watch job events, then learn every known job's state once (newer events win over the scan) */
  async start (signal?: AbortSignal): Promise<void> {
    if (this.unwatch != null) return
    this.unwatch = this.c.handlers.watchJobs((ev, job) => {
      if (job != null) this.states.note(job.id, job.state)
      // a claim shows as the run's start (older nodes also sent a separate `claimed`)
      const claimed = ev.type === 'started' || ev.type === 'claimed'
      if (claimed && job != null) this.claim.observe(Math.max(0, ev.at - job.submittedAt) / 1000)
      if (ev.type === 'finished' && ev.wallMs != null) this.run.observe({ state: ev.state ?? 'unknown' }, ev.wallMs / 1000)
      if (ev.node === this.c.self()) {
        if (claimed) this.leaseOps.inc({ op: 'claim' })
        if (ev.type === 'lease-lost') this.leaseOps.inc({ op: 'lost' })
        if (ev.type === 'started' && ev.reason?.startsWith('taken over') === true) this.leaseOps.inc({ op: 'takeover' })
      }
    })
    let cursor: string | undefined
    do {
      if (signal?.aborted === true) return
      const page = await this.c.handlers.findJobs({ limit: 500, cursor })
      for (const j of page.jobs) if (!this.states.has(j.id)) this.states.note(j.id, j.state)
      cursor = page.next ?? undefined
    } while (cursor != null)
  }

  stop (): void {
    this.unwatch?.()
    this.unwatch = undefined
  }

  httpError (code: string): void {
    this.errors.inc({ code })
  }

  /** the text exposition (`text/plain; version=0.0.4`) */
  async render (): Promise<string> {
    await this.sample()
    return await this.registry.metrics()
  }

  get contentType (): string { return this.registry.contentType }

  /** read the counters other parts keep */
  private async sample (): Promise<void> {
    const status = await this.c.handlers.status()
    const messages = (status.messages ?? {}) as { fetch?: { bytesServed?: number }, bytesFetched?: number }
    this.grow(this.served, 'served', messages.fetch?.bytesServed ?? 0)
    this.grow(this.fetched, 'fetched', messages.bytesFetched ?? 0)
    for (const [reason, n] of Object.entries(status.dropped)) this.grow(this.dropped, `dropped:${reason}`, n, { reason })
    this.connected.set(status.connected)
    this.peers.reset()
    if (status.mesh != null) {
      const peers = await this.c.handlers.peers() as Array<{ state: string }>
      for (const p of peers) this.peers.inc({ state: p.state })
    }
  }

  /** add how much a counter kept elsewhere grew since the last scrape */
  private grow (counter: Counter, key: string, value: number, labels?: Record<string, string>): void {
    const last = this.totals.get(key) ?? 0
    const delta = value >= last ? value - last : value
    this.totals.set(key, value)
    if (delta > 0) {
      if (labels != null) counter.inc(labels, delta)
      else counter.inc(delta)
    }
  }
}

/**
 * Jobs by state for the `cit_jobs` gauge, in memory that does not grow with the jobs seen: a
 * final state never changes, so an ended job is only counted (its id kept among the last
 * ENDED_IDS_KEPT, against counting a late event of it twice); unfinished jobs are kept by id.
 * It held every job's id and state before, which grew the daemon by every job it had seen.
 */
export class JobStateTally {
  private readonly open = new Map<string, JobState>()
  private readonly ended = new Set<string>()
  private readonly endedCounts = new Map<JobState, number>()

  constructor (private readonly endedKept = ENDED_IDS_KEPT) {}

  /** ids held: the unfinished jobs and the last ended ones */
  get size (): number { return this.open.size + this.ended.size }

  has (id: string): boolean { return this.open.has(id) || this.ended.has(id) }

  note (id: string, state: JobState): void {
    if (this.ended.has(id)) return
    if (!isFinal(state)) {
      this.open.set(id, state)
      return
    }
    this.open.delete(id)
    this.endedCounts.set(state, (this.endedCounts.get(state) ?? 0) + 1)
    this.ended.add(id)
    if (this.ended.size > this.endedKept) this.ended.delete(this.ended.values().next().value!)
  }

  counts (): Record<JobState, number> {
    const counts = Object.fromEntries(JOB_STATES.map(s => [s, this.endedCounts.get(s) ?? 0])) as Record<JobState, number>
    for (const s of this.open.values()) counts[s]++
    return counts
  }
}
