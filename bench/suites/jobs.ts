/**
 * Figures of running jobs in the mesh: dispatch latency, sustained throughput, terminal output
 * throughput and result-cache hits, each against its bare-pty (or uncached) baseline.
 */
import { setMaxListeners } from 'node:events'
import { availableParallelism } from 'node:os'
import { ptyBulk, ptyFirstOutput, ptySpawnRate } from '../local.js'
import { CpuWindow, cpuMs } from '../machine.js'
import { logCommand, logPayloadBytes, oneStep } from '../jobspecs.js'
import { figure, quantile, sortedCopy, unmeasured } from '../stats.js'
import { BIG_JOB_TIMEOUT_MS, JOB_TIMEOUT_MS, THROUGHPUT_TIMEOUT_MS, THROUGHPUT_WINDOW_PER_SLOT } from '../constants.js'
import { nodeLabel } from '../cluster.js'
import { isFinal } from '../../protocols/job/records.js'
import type { Cluster, BenchNode } from '../cluster.js'
import type { Figure } from '../stats.js'
import type { Plan } from '../constants.js'

const DISPATCH_COMMAND = 'echo dispatched'
/** jobs run before timing starts (first workspace, first pty of each node) */
const WARMUP_JOBS = 5
/** distinct job names in the throughput run: runs of one name share a workspace and queue for it */
const THROUGHPUT_NAMES = 16

export interface SuiteContext {
  cluster: Cluster
  plan: Plan
  log: (line: string) => void
  signal: AbortSignal
}

function deadline (ctx: SuiteContext, ms: number): AbortSignal {
  return AbortSignal.any([ctx.signal, AbortSignal.timeout(ms)])
}

/** submit on `node` and wait for the final state, failing unless it succeeded */
async function runJob (ctx: SuiteContext, node: BenchNode, spec: unknown, timeoutMs = JOB_TIMEOUT_MS): Promise<any> {
  const submitted = await node.control.submit(spec, ctx.signal)
  // the reply is the job as written: a cache hit is finished in it, and waiting would be a second round trip
  const view = isFinal(submitted.state) ? submitted : await node.control.wait(submitted.id, deadline(ctx, timeoutMs))
  if (view.state !== 'succeeded') throw new Error(`job ${String(view.id).slice(0, 12)} ended ${String(view.state)}: ${String(view.reason ?? '')}`)
  return view
}

/** how long the claiming probe waits for its job to end somewhere */
const CLAIM_PROBE_TIMEOUT_MS = 20_000

/**
 * Does the mesh hand a job to another node? A job submitted on node 0 that requires node 1's
 * label must run on node 1 once claiming works; before that, node 0 runs what is submitted on it
 * (or leaves it queued).
 */
export async function probeClaiming (ctx: SuiteContext): Promise<{ claiming: boolean, detail: string }> {
  const { cluster } = ctx
  if (cluster.size < 2) return { claiming: false, detail: 'needs two nodes' }
  const [a, b] = cluster.nodes
  const { id } = await a.control.submit(oneStep('bench-claim-probe', 'echo claimed', { labels: [nodeLabel(b.index)] }), ctx.signal)
  try {
    const view = await a.control.wait(id, deadline(ctx, CLAIM_PROBE_TIMEOUT_MS))
    if (view.executor === b.peerId) return { claiming: true, detail: 'a job submitted on node 0 that requires node 1\'s label ran on node 1' }
    return { claiming: false, detail: `a job submitted on node 0 that requires node 1's label ran on ${view.executor === a.peerId ? 'node 0 itself' : String(view.executor)} (${String(view.state)})` }
  } catch {
    ctx.signal.throwIfAborted()
    await a.control.cancel(id).catch(() => {})
    return { claiming: false, detail: `a job submitted on node 0 that requires node 1's label was not run within ${CLAIM_PROBE_TIMEOUT_MS / 1000} s` }
  }
}

/** dispatch_p50_ms and dispatch_p99_ms: submit → first output byte, one job at a time, round-robin over the nodes */
export async function dispatch (ctx: SuiteContext): Promise<Record<string, Figure>> {
  const { cluster, plan } = ctx
  const spec = oneStep('bench-dispatch', DISPATCH_COMMAND)
  const base = await ptyFirstOutput(DISPATCH_COMMAND, plan.dispatchJobs, ctx.signal)
  for (let i = 0; i < WARMUP_JOBS; i++) await runJob(ctx, cluster.nodes[i % cluster.size], spec)
  const samples: number[] = []
  let remote = 0
  let failed = 0
  const errors: string[] = []
  for (let i = 0; i < plan.dispatchJobs; i++) {
    const node = cluster.nodes[i % cluster.size]
    const started = performance.now()
    const { id } = await node.control.submit(spec, ctx.signal)
    try {
      const first = await node.control.firstByte(id, deadline(ctx, JOB_TIMEOUT_MS))
      if (first != null) samples.push(first - started)
    } catch (err: any) {
      ctx.signal.throwIfAborted()
      // one bad sample is a finding, not the end of the figure; many are
      errors.push(String(err?.message ?? err))
      if (errors.length > Math.max(5, plan.dispatchJobs / 10)) throw new Error(`${errors.length} of ${i + 1} output streams failed, e.g. ${errors[0]}`)
    }
    // let it end before the next one: this is latency on an idle mesh, not queueing
    const view = await node.control.wait(id, deadline(ctx, JOB_TIMEOUT_MS))
    if (view.state !== 'succeeded') failed++
    if (view.executor != null && view.executor !== node.peerId) remote++
  }
  const sorted = sortedCopy(samples)
  const where = `max ${sorted.length > 0 ? sorted[sorted.length - 1].toFixed(0) : '—'} ms; ${remote} of ${plan.dispatchJobs} ran on another node than the one they were submitted on`
  const lost = plan.dispatchJobs - samples.length - errors.length
  const broken = errors.length > 0 ? `; ${errors.length} output streams failed (left out), e.g. "${errors[0]}"` : ''
  const note = `${cluster.size}-node mesh; ${where}${lost > 0 ? `; ${lost} jobs showed no output to a follower (left out)` : ''}${broken}${failed > 0 ? `; ${failed} did not succeed` : ''}; baseline: \`${DISPATCH_COMMAND}\` spawned in a bare node-pty`
  if (sorted.length === 0) return { dispatch_p50_ms: unmeasured('ms', note), dispatch_p99_ms: unmeasured('ms', note) }
  return {
    dispatch_p50_ms: figure({ value: quantile(sorted, 0.5), unit: 'ms', baseline: quantile(base, 0.5), n: sorted.length, note }),
    dispatch_p99_ms: figure({ value: quantile(sorted, 0.99), unit: 'ms', baseline: quantile(base, 0.99), n: sorted.length, note })
  }
}

/** throughput_jobs_per_s: `true` jobs completed per second with every node kept busy */
export async function throughput (ctx: SuiteContext): Promise<Figure> {
  const { cluster, plan } = ctx
  const concurrency = availableParallelism()
  const baseline = await ptySpawnRate('true', plan.throughputJobs, concurrency, ctx.signal)
  const specs = Array.from({ length: THROUGHPUT_NAMES }, (_, i) => oneStep(`bench-tp-${i}`, 'true'))
  // the first failure stops every worker instead of leaving them running in the background
  const stop = new AbortController()
  const signal = AbortSignal.any([deadline(ctx, THROUGHPUT_TIMEOUT_MS), stop.signal])
  // every request in flight listens on it
  setMaxListeners(0, signal)
  let next = 0
  let failed = 0
  let lastDone = 0
  // the daemons' own CPU per job says how much of the limit is theirs (the rest: job processes, other load)
  const cpu = new CpuWindow(cluster.nodes.map(n => n.pid))
  cpu.start()
  const started = performance.now()
  await Promise.all(cluster.nodes.map(async node => {
    const status = await node.control.status(signal)
    const window = Math.max(1, (status.load?.slotsFree ?? 1) * THROUGHPUT_WINDOW_PER_SLOT)
    await Promise.all(Array.from({ length: window }, async () => {
      try {
        while (next < plan.throughputJobs) {
          const i = next++
          const { id } = await node.control.submit(specs[i % THROUGHPUT_NAMES], signal)
          const view = await node.control.wait(id, signal)
          if (view.state !== 'succeeded') failed++
          lastDone = performance.now()
        }
      } catch (err) {
        stop.abort(err)
        throw err
      }
    }))
  }))
  const seconds = (lastDone - started) / 1000
  const daemonCpuMs = [...cpu.used().values()].reduce((a, b) => a + b, 0)
  const note = `the daemons used ${(daemonCpuMs / plan.throughputJobs).toFixed(1)} ms of CPU per job in all; ${plan.throughputJobs} jobs submitted across ${cluster.size} nodes, ${THROUGHPUT_WINDOW_PER_SLOT} in flight per slot of each${failed > 0 ? `; ${failed} did not succeed` : ''}; baseline: \`true\` spawned in bare node-ptys, ${concurrency} at a time`
  return figure({ value: (plan.throughputJobs - failed) / seconds, unit: 'jobs/s', baseline, n: plan.throughputJobs, note })
}

/** log_mb_per_s: a job printing plan.logBytes through its terminal, submit → finished */
export async function logThroughput (ctx: SuiteContext): Promise<Figure> {
  const { cluster, plan } = ctx
  const command = logCommand(plan.logBytes)
  const payload = logPayloadBytes(plan.logBytes)
  const raw = await ptyBulk(command, payload, true, BIG_JOB_TIMEOUT_MS)
  // the kernel's default output processing (\n → \r\n) is what a naive pty reader gets: shown for scale
  const cooked = await ptyBulk(logCommand(20_000_000), logPayloadBytes(20_000_000), false, BIG_JOB_TIMEOUT_MS)
  const node = cluster.nodes[0]
  const cpu0 = cpuMs(node.pid)
  const started = performance.now()
  // pinned to the node it is submitted on: this figure is about the terminal path, not claiming
  const view = await runJob(ctx, node, oneStep('bench-log', command, { labels: [nodeLabel(node.index)] }), BIG_JOB_TIMEOUT_MS)
  const seconds = (performance.now() - started) / 1000
  // the daemon's own CPU time per MB: what the machine's load does not skew
  const wall = `; ${phases(view)}; the daemon's CPU ${((cpuMs(node.pid) - cpu0) / (payload / 1e6)).toFixed(1)} ms per MB`
  const note = `${(payload / 1e6).toFixed(0)} MB printed by \`${command}\`, submit → finished ${seconds.toFixed(2)} s${wall}; baseline: the same command in a bare node-pty with \`stty -opost\` (as the executor sets); with the default \`opost\` a bare pty manages ${cooked.mbPerS.toFixed(1)} MB/s`
  return figure({ value: payload / 1e6 / seconds, unit: 'MB/s', baseline: raw.mbPerS, n: 1, note })
}

/** where a job's time went, from its signed events and the executor's usage record */
function phases (view: any): string {
  const at = (type: string): number | undefined => view.events?.find((e: any) => e.type === type)?.at
  const [submitted, started, finished] = [at('submitted'), at('started'), at('finished')]
  const wallMs: number | undefined = view.usage?.wallMs
  if (submitted == null || started == null || finished == null || wallMs == null) return 'no event timeline'
  return `submitted → started ${started - submitted} ms, started → finished ${finished - started} ms of which the executor's wall time ${wallMs} ms`
}

/** cache_hit_p50_ms: a resubmitted `cache: true` job → its result (null while the cache is absent) */
export async function cacheHit (ctx: SuiteContext): Promise<Figure> {
  const { cluster, plan } = ctx
  const node = cluster.nodes[0]
  const command = 'echo cached-result'
  // the baseline: the same job when it does run (cache off), submit → result
  const uncached = oneStep('bench-uncached', command)
  const base: number[] = []
  for (let i = 0; i < plan.cacheRuns; i++) {
    const t = performance.now()
    await runJob(ctx, node, uncached)
    base.push(performance.now() - t)
  }
  const baseline = quantile(sortedCopy(base), 0.5)
  const cached = oneStep('bench-cache', command, { cache: true })
  await runJob(ctx, node, cached)
  const samples: number[] = []
  let misses = 0
  for (let i = 0; i < plan.cacheRuns; i++) {
    const t = performance.now()
    const view = await runJob(ctx, node, cached)
    const ms = performance.now() - t
    if (view.cacheHit === true) samples.push(ms)
    else misses++
    // one miss on the first resubmission means there is no cache yet: stop early
    if (i === 0 && misses === 1) break
  }
  if (samples.length === 0) {
    return unmeasured('ms', 'the result cache has not landed: a resubmitted `cache: true` job ran again (cacheHit false); baseline: the same job run uncached, submit → result', baseline, { n: 0 })
  }
  const note = `submit → result of a resubmitted \`cache: true\` job${misses > 0 ? ` (${misses} resubmissions missed the cache)` : ''}; baseline: the same job run uncached`
  return figure({ value: quantile(sortedCopy(samples), 0.5), unit: 'ms', baseline, n: samples.length, note })
}
