/**
 * announce_p99_ms_nN: a job submitted on one node until every node of an N-node mesh has stored
 * it, from the daemons' own log lines ("job announced by a peer", stamped when the announcement
 * was stored), read from their files while nothing else asks the daemons anything. A second
 * pass polls every daemon's control socket (every ANNOUNCE_POLL_MS) for a reading as a client
 * sees it; with 50 daemons that polling is itself most of the machine's work, so it is the note.
 * After each size the mesh idles for plan.idleMs and its RSS and CPU go in the note too.
 */
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { oneStep } from '../jobspecs.js'
import { sleep } from '../procs.js'
import { figure, quantile, sortedCopy, unmeasured } from '../stats.js'
import { ANNOUNCE_BUDGET_MS, ANNOUNCE_FIGURE_SIZES, CONVERGE_HEARTBEATS, ANNOUNCE_JOB_WAIT_MS, ANNOUNCE_LOG_POLL_MS, ANNOUNCE_POLL_MS, ANNOUNCE_POLL_RUNS, ANNOUNCE_TIMEOUT_MS } from '../constants.js'
import { idleFigures } from './idle.js'
import { CpuWindow } from '../machine.js'
import { idleHeartbeatMs } from '../../protocols/load/index.js'
import type { BenchNode } from '../cluster.js'
import type { Registry } from '../procs.js'
import type { Figure } from '../stats.js'
import type { SuiteContext } from './jobs.js'

export interface AnnounceResult {
  /** ms until the last node knew the job, per submission (sorted); lost submissions left out */
  polled: number[]
  /** the same from the daemons' logs */
  logged: number[]
  /** submissions that did not reach every node within ANNOUNCE_TIMEOUT_MS */
  lost: number
  nodes: number
  /** mean CPU of one daemon while this ran, % of a core (the whole machine has cpus × 100) */
  cpuPerDaemon: number
  /** submissions not made because ANNOUNCE_BUDGET_MS ran out */
  skipped: number
}

const logPath = (node: BenchNode): string => join(node.home, 'daemon.log')

/** the size of each node's log now: where lines about a job submitted next can start */
async function logSizes (nodes: BenchNode[]): Promise<Map<BenchNode, number>> {
  return new Map(await Promise.all(nodes.map(async n => [n, await stat(logPath(n)).then(s => s.size, () => 0)] as const)))
}

/**
 * when `node` stored the announcement of `job`, from its log (ms since the epoch); only the part
 * written since `from` is read, so that polling 50 logs stays cheap beside the daemons
 */
async function loggedArrival (node: BenchNode, job: string, from: number): Promise<number | undefined> {
  let text = ''
  const file = await open(logPath(node), 'r').catch(() => undefined)
  if (file == null) return undefined
  try {
    const { size } = await file.stat()
    const buf = Buffer.alloc(Math.max(0, size - from))
    await file.read(buf, 0, buf.length, from)
    text = buf.toString('utf8')
  } finally {
    await file.close()
  }
  for (let at = text.indexOf(job); at >= 0; at = text.indexOf(job, at + 1)) {
    const start = text.lastIndexOf('\n', at) + 1
    const end = text.indexOf('\n', at)
    try {
      const line = JSON.parse(text.slice(start, end < 0 ? undefined : end))
      if (line.msg === 'job announced by a peer' && line.job === job) return line.t
    } catch {}
  }
  return undefined
}

/**
 * one submission on `src`: ms until every other node has it, from their logs (`how: 'logs'`: the
 * files are read every ANNOUNCE_LOG_POLL_MS, the daemons are not asked) or as their control
 * sockets answer (`how: 'poll'`); undefined when some node did not have it in time
 */
async function once (ctx: SuiteContext, src: BenchNode, others: BenchNode[], spec: unknown, how: 'logs' | 'poll'): Promise<number | undefined> {
  const sizes = how === 'logs' ? await logSizes(others) : new Map<BenchNode, number>()
  const t0 = Date.now()
  const started = performance.now()
  const { id } = await src.control.submit(spec, ctx.signal)
  let pending = others
  let last = 0
  const arrivals: number[] = []
  const deadline = started + ANNOUNCE_TIMEOUT_MS
  while (pending.length > 0 && performance.now() < deadline) {
    await sleep(how === 'logs' ? ANNOUNCE_LOG_POLL_MS : ANNOUNCE_POLL_MS, ctx.signal)
    const known = how === 'logs'
      ? await Promise.all(pending.map(async n => await loggedArrival(n, id, sizes.get(n) ?? 0)))
      : await Promise.all(pending.map(async n => await n.control.knows(id, ctx.signal).catch(() => false) ? performance.now() : undefined))
    for (const at of known) if (at != null) { arrivals.push(at); last = performance.now() }
    pending = pending.filter((_, i) => known[i] == null)
  }
  // let the job finish before the next submission so one measurement never overlaps another
  await src.control.wait(id, AbortSignal.any([ctx.signal, AbortSignal.timeout(ANNOUNCE_JOB_WAIT_MS)])).catch(() => {})
  if (pending.length > 0) return undefined
  return how === 'logs' ? Math.max(...arrivals) - t0 : last - started
}

/**
 * `runs` submissions timed from the logs, then `pollRuns` by polling, rotating over the nodes as
 * the submitter; both within ANNOUNCE_BUDGET_MS
 */
export async function measureAnnounce (ctx: SuiteContext, runs: number, pollRuns = runs): Promise<AnnounceResult> {
  const { cluster } = ctx
  const spec = oneStep('bench-announce', 'echo announced')
  const times = { logs: [] as number[], poll: [] as number[] }
  let lost = 0
  let skipped = 0
  const cpu = new CpuWindow(cluster.nodes.map(n => n.pid))
  cpu.start()
  const budget = Date.now() + ANNOUNCE_BUDGET_MS
  const plan = [...Array(runs).fill('logs'), ...Array(pollRuns).fill('poll')] as Array<'logs' | 'poll'>
  for (let r = 0; r < plan.length; r++) {
    if (Date.now() > budget) { skipped = plan.length - r; break }
    const src = cluster.nodes[r % cluster.size]
    const ms = await once(ctx, src, cluster.nodes.filter(n => n !== src), spec, plan[r])
    if (ms == null) {
      lost++
      // a mesh that loses the first submissions entirely would only burn ANNOUNCE_TIMEOUT_MS per run
      if (lost >= 2 && times.logs.length === 0) break
      continue
    }
    times[plan[r]].push(ms)
  }
  const use = [...cpu.finish().values()]
  return { polled: sortedCopy(times.poll), logged: sortedCopy(times.logs), lost, nodes: cluster.size, cpuPerDaemon: use.reduce((a, b) => a + b, 0) / use.length, skipped }
}

/** a sentence on one measurement, for the figure's note */
export function describeAnnounce (r: AnnounceResult): string {
  const p = (xs: number[], q: number): string => xs.length > 0 ? quantile(xs, q).toFixed(1) : '—'
  const budget = r.skipped > 0 ? ` (${r.skipped} more not tried: the ${ANNOUNCE_BUDGET_MS / 1000} s budget ran out)` : ''
  return `${r.nodes} nodes, ${r.logged.length} submissions timed from the daemons' logs (p50 ${p(r.logged, 0.5)} / p99 ${p(r.logged, 0.99)} ms)${budget}${r.lost > 0 ? `, ${r.lost} lost` : ''}; ${r.polled.length} more polling every control socket every ${ANNOUNCE_POLL_MS} ms: p50 ${p(r.polled, 0.5)} / p99 ${p(r.polled, 0.99)} ms; each daemon used ${r.cpuPerDaemon.toFixed(1)} % of a core meanwhile`
}

/** the baseline: the same measurement between two nodes (grows the cluster to 2) */
export async function announceBaseline (ctx: SuiteContext): Promise<AnnounceResult> {
  await ctx.cluster.grow(2)
  const conv = await ctx.cluster.converge(ctx.plan.convergeMs)
  ctx.log(conv.detail)
  if (!conv.ok) throw new Error(`two nodes did not hear each other: ${conv.detail}`)
  return await measureAnnounce(ctx, ctx.plan.announceRuns)
}

/** one mesh size: grow, wait for the mesh to form, time the announcements */
async function announceAt (ctx: SuiteContext & { registry: Registry }, size: number, base: AnnounceResult | undefined): Promise<{ figure: Figure, formed: boolean }> {
  const grown = await ctx.cluster.grow(size)
  const conv = await ctx.cluster.converge(Math.max(ctx.plan.convergeMs, CONVERGE_HEARTBEATS * idleHeartbeatMs(grown.size)))
  ctx.log(`mesh of ${grown.size}${grown.stoppedBecause != null ? ` (stopped: ${grown.stoppedBecause})` : ''}; ${conv.detail}`)
  const baseline = base != null && base.logged.length > 0 ? quantile(base.logged, 0.99) : null
  // an announcement cannot reach every node of a mesh that has not formed: nothing to time
  if (!conv.ok) {
    const between2 = base != null ? `; baseline between 2 nodes: ${describeAnnounce(base)}` : ''
    return { figure: unmeasured('ms', `the ${grown.size}-node mesh did not form: ${conv.detail}${between2}`, baseline), formed: false }
  }
  const r = await measureAnnounce(ctx, ctx.plan.announceRuns, ANNOUNCE_POLL_RUNS)
  const idle = await idleFigures(ctx, { afterJobs: false })
  const fit = grown.size < size ? `only ${grown.size} of ${size} daemons fit (${grown.stoppedBecause ?? ''}); ` : ''
  const note = `${fit}${describeAnnounce(r)}; then idle: RSS ${String(idle.idle_rss_mib.note).replace(/^.*each: /, 'each: ')}; CPU ${String(idle.idle_cpu_pct.note).replace(/^.*each: /, 'each: ')}; baseline: the same between 2 nodes (${base != null ? describeAnnounce(base) : 'not measured'})`
  const idleAt = { rssMib: idle.idle_rss_mib.value, cpuPct: idle.idle_cpu_pct.value }
  if (r.logged.length === 0) return { figure: { ...unmeasured('ms', `no announcement reached every node; ${note}`, baseline), idle: idleAt }, formed: true }
  return { figure: { ...figure({ value: quantile(r.logged, 0.99), unit: 'ms', baseline, n: r.logged.length, note }), idle: idleAt }, formed: true }
}

/**
 * announce_p99_ms_n20 and _n50 (or, in a --quick plan, the sizes it names, reported in the notes
 * of those two, which stay null). Once a mesh fails to form, bigger ones are not tried.
 */
export async function announceFigures (ctx: SuiteContext & { registry: Registry }, base: AnnounceResult | undefined): Promise<Record<string, Figure>> {
  const out: Record<string, Figure> = {}
  const other: string[] = []
  let unformed: string | undefined
  for (const size of ctx.plan.announceSizes) {
    let f: Figure
    if (unformed != null) {
      f = unmeasured('ms', `not tried: ${unformed}`)
    } else {
      ctx.log(`announcement to ${size} nodes…`)
      try {
        const r = await announceAt(ctx, size, base)
        f = r.figure
        if (!r.formed) unformed = f.note
      } catch (err: any) {
        ctx.signal.throwIfAborted()
        f = unmeasured('ms', `the bench failed: ${String(err?.message ?? err)}`)
      }
    }
    if (ANNOUNCE_FIGURE_SIZES.includes(size)) out[`announce_p99_ms_n${size}`] = f
    else other.push(`N=${size}: ${f.value != null ? `p99 ${f.value} ms vs ${String(f.baseline)} ms between 2 nodes; ` : ''}${String(f.note)}`)
  }
  for (const size of ANNOUNCE_FIGURE_SIZES) {
    if (out[`announce_p99_ms_n${size}`] != null) continue
    out[`announce_p99_ms_n${size}`] = unmeasured('ms', `not measured in this (--quick) plan${other.length > 0 ? `; it measured ${other.join('; ')}` : ''}`)
  }
  return out
}
