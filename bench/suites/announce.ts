/**
 * announce_p99_ms_nN: a job submitted on one node until every node of an N-node mesh knows it,
 * by polling each daemon's control socket. The daemons' own log lines ("job announced by a
 * peer", stamped when the announcement was stored) give a second reading without polling cost.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { oneStep } from '../jobspecs.js'
import { sleep } from '../procs.js'
import { figure, quantile, sortedCopy, unmeasured } from '../stats.js'
import { ANNOUNCE_BUDGET_MS, ANNOUNCE_FIGURE_SIZES, ANNOUNCE_JOB_WAIT_MS, ANNOUNCE_POLL_MS, ANNOUNCE_TIMEOUT_MS } from '../constants.js'
import { CpuWindow } from '../machine.js'
import type { BenchNode } from '../cluster.js'
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

/** when each node stored the announcement of `job`, from its log (ms since the epoch) */
async function loggedArrival (node: BenchNode, job: string): Promise<number | undefined> {
  const text = await readFile(join(node.home, 'daemon.log'), 'utf8').catch(() => '')
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

/** one submission on `src`: ms until every other node answers for it, or undefined when lost */
async function once (ctx: SuiteContext, src: BenchNode, others: BenchNode[], spec: unknown): Promise<{ id: string, polled?: number, t0: number }> {
  const t0 = Date.now()
  const started = performance.now()
  const { id } = await src.control.submit(spec, ctx.signal)
  let pending = others
  let last = 0
  const deadline = started + ANNOUNCE_TIMEOUT_MS
  while (pending.length > 0 && performance.now() < deadline) {
    const known = await Promise.all(pending.map(async n => await n.control.knows(id, ctx.signal).catch(() => false)))
    const now = performance.now()
    if (known.some(Boolean)) last = now
    pending = pending.filter((_, i) => !known[i])
    if (pending.length > 0) await sleep(ANNOUNCE_POLL_MS, ctx.signal)
  }
  // let the job finish before the next submission so one measurement never overlaps another
  await src.control.wait(id, AbortSignal.any([ctx.signal, AbortSignal.timeout(ANNOUNCE_JOB_WAIT_MS)])).catch(() => {})
  return { id, t0, polled: pending.length === 0 ? last - started : undefined }
}

/** `runs` submissions, rotating over the nodes as the submitter */
export async function measureAnnounce (ctx: SuiteContext, runs: number): Promise<AnnounceResult> {
  const { cluster } = ctx
  const spec = oneStep('bench-announce', 'echo announced')
  const polled: number[] = []
  const logged: number[] = []
  let lost = 0
  let skipped = 0
  const cpu = new CpuWindow(cluster.nodes.map(n => n.pid))
  cpu.start()
  const budget = Date.now() + ANNOUNCE_BUDGET_MS
  for (let r = 0; r < runs; r++) {
    if (Date.now() > budget) { skipped = runs - r; break }
    const src = cluster.nodes[r % cluster.size]
    const others = cluster.nodes.filter(n => n !== src)
    const result = await once(ctx, src, others, spec)
    if (result.polled == null) {
      lost++
      // a mesh that loses the first submissions entirely would only burn ANNOUNCE_TIMEOUT_MS per run
      if (lost >= 2 && polled.length === 0) break
      continue
    }
    polled.push(result.polled)
    const arrivals = await Promise.all(others.map(async n => await loggedArrival(n, result.id)))
    if (arrivals.every(a => a != null)) logged.push(Math.max(...(arrivals as number[])) - result.t0)
  }
  const use = [...cpu.finish().values()]
  return { polled: sortedCopy(polled), logged: sortedCopy(logged), lost, nodes: cluster.size, cpuPerDaemon: use.reduce((a, b) => a + b, 0) / use.length, skipped }
}

/** a sentence on one measurement, for the figure's note */
export function describeAnnounce (r: AnnounceResult): string {
  const p = (xs: number[], q: number): string => xs.length > 0 ? quantile(xs, q).toFixed(1) : '—'
  const budget = r.skipped > 0 ? ` (${r.skipped} more not tried: the ${ANNOUNCE_BUDGET_MS / 1000} s budget ran out)` : ''
  return `${r.nodes} nodes, ${r.polled.length} submissions${budget} (p50 ${p(r.polled, 0.5)} ms)${r.lost > 0 ? `, ${r.lost} lost` : ''}; from the daemons' logs p50 ${p(r.logged, 0.5)} / p99 ${p(r.logged, 0.99)} ms; each daemon used ${r.cpuPerDaemon.toFixed(1)} % of a core meanwhile`
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
async function announceAt (ctx: SuiteContext, size: number, base: AnnounceResult | undefined): Promise<{ figure: Figure, formed: boolean }> {
  const grown = await ctx.cluster.grow(size)
  const conv = await ctx.cluster.converge(ctx.plan.convergeMs)
  ctx.log(`mesh of ${grown.size}${grown.stoppedBecause != null ? ` (stopped: ${grown.stoppedBecause})` : ''}; ${conv.detail}`)
  const baseline = base != null && base.polled.length > 0 ? quantile(base.polled, 0.99) : null
  // an announcement cannot reach every node of a mesh that has not formed: nothing to time
  if (!conv.ok) {
    const between2 = base != null ? `; baseline between 2 nodes: ${describeAnnounce(base)}` : ''
    return { figure: unmeasured('ms', `the ${grown.size}-node mesh did not form: ${conv.detail}${between2}`, baseline), formed: false }
  }
  const r = await measureAnnounce(ctx, ctx.plan.announceRuns)
  const fit = grown.size < size ? `only ${grown.size} of ${size} daemons fit (${grown.stoppedBecause ?? ''}); ` : ''
  const note = `${fit}${describeAnnounce(r)}; baseline: the same between 2 nodes (${base != null ? describeAnnounce(base) : 'not measured'})`
  if (r.polled.length === 0) return { figure: unmeasured('ms', `no announcement reached every node; ${note}`, baseline), formed: true }
  return { figure: figure({ value: quantile(r.polled, 0.99), unit: 'ms', baseline, n: r.polled.length, note }), formed: true }
}

/**
 * announce_p99_ms_n20 and _n50 (or, in a --quick plan, the sizes it names, reported in the notes
 * of those two, which stay null). Once a mesh fails to form, bigger ones are not tried.
 */
export async function announceFigures (ctx: SuiteContext, base: AnnounceResult | undefined): Promise<Record<string, Figure>> {
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
