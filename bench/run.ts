/**
 * `npm run bench [-- --quick] [-- --only dispatch,idle,...] [-- --out FILE] [-- --profile DIR] [-- --plain-node]`:
 * starts real daemons on 127.0.0.1 in temp homes, measures every figure of docs/benchmarks.md
 * against a baseline taken in the same run, writes bench/results/latest.json and prints a table.
 * Every process it starts is stopped by its pid, also on an error and on Ctrl-C. It exits 0 even
 * when figures fall short or cannot be measured yet: it is not a test.
 */
import '../node/polyfill.js'
import { setMaxListeners } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../cli/daemon.js'
import { Cluster } from './cluster.js'
import { DAEMON_STOP_GRACE_MS, FULL, QUICK } from './constants.js'
import { machineInfo, residentBytes } from './machine.js'
import { Registry } from './procs.js'
import { LoopbackSsh } from './ssh.js'
import { notes, table, unmeasured } from './stats.js'
import { attachFigure } from './suites/attach.js'
import { announceBaseline, announceFigures } from './suites/announce.js'
import { fetchFigure } from './suites/fetch.js'
import { idleFigures } from './suites/idle.js'
import { sandboxFigure } from './suites/sandbox.js'
import { cacheHit, dispatch, logThroughput, probeClaiming, throughput } from './suites/jobs.js'
import type { AnnounceResult } from './suites/announce.js'
import type { Resident } from './machine.js'
import type { Figure } from './stats.js'
import type { SuiteContext } from './suites/jobs.js'

const SECTIONS = ['dispatch', 'throughput', 'log', 'cache', 'fetch', 'attach', 'idle', 'announce', 'sandbox'] as const
type Section = typeof SECTIONS[number]
const DEFAULT_OUT = resolve(import.meta.dirname, '../../bench/results/latest.json')

/** every figure, in the order of the table, with its unit and the section that measures it */
const FIGURES: Record<string, { unit: string, section: Section }> = {
  dispatch_p50_ms: { unit: 'ms', section: 'dispatch' },
  dispatch_p99_ms: { unit: 'ms', section: 'dispatch' },
  throughput_jobs_per_s: { unit: 'jobs/s', section: 'throughput' },
  cache_hit_p50_ms: { unit: 'ms', section: 'cache' },
  fetch_mb_per_s: { unit: 'MB/s', section: 'fetch' },
  log_mb_per_s: { unit: 'MB/s', section: 'log' },
  attach_echo_p50_ms: { unit: 'ms', section: 'attach' },
  idle_rss_mib: { unit: 'MiB', section: 'idle' },
  idle_cpu_pct: { unit: '% of a core', section: 'idle' },
  announce_p99_ms_n20: { unit: 'ms', section: 'announce' },
  announce_p99_ms_n50: { unit: 'ms', section: 'announce' },
  sandbox_job_p50_ms: { unit: 'ms', section: 'sandbox' }
}

interface Options { quick: boolean, only: Set<Section>, out: string, profile?: string, plainNode: boolean }

function options (): Options {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' }, profile: { type: 'string' }, 'plain-node': { type: 'boolean' } }, strict: true })
  const only = new Set<Section>()
  for (const name of (values.only ?? SECTIONS.join(',')).split(',').map(s => s.trim()).filter(s => s !== '')) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: unknown section ${JSON.stringify(name)} (one of ${SECTIONS.join(', ')})`)
    only.add(name as Section)
  }
  return { quick: values.quick === true, only, out: resolve(values.out ?? DEFAULT_OUT), profile: values.profile != null ? resolve(values.profile) : undefined, plainNode: values['plain-node'] === true }
}

const t0 = Date.now()
function log (line: string): void {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`)
}

/** Ctrl-C (or SIGTERM) aborts the run and stops every process it started; a second one kills at once */
function onInterrupt (registry: Registry, controller: AbortController): void {
  let count = 0
  const handler = (sig: NodeJS.Signals): void => {
    if (++count > 1) { registry.killNow(); process.exit(130) }
    log(`${sig}: stopping ${registry.running.length} process(es) the bench started`)
    controller.abort(new Error(`interrupted by ${sig}`))
    void registry.cleanup(DAEMON_STOP_GRACE_MS).finally(() => process.exit(130))
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  process.on('exit', () => { registry.killNow() })
}

async function main (): Promise<number> {
  const opts = options()
  const plan = opts.quick ? QUICK : FULL
  const registry = new Registry()
  const controller = new AbortController()
  const signal = controller.signal
  // every bounded wait composes its own deadline with this signal (AbortSignal.any)
  setMaxListeners(0, signal)
  onInterrupt(registry, controller)

  const machine = machineInfo()
  const figures: Record<string, Figure> = Object.fromEntries(Object.entries(FIGURES).map(([k, f]) => [k, unmeasured(f.unit, 'not run')]))
  // --profile DIR: every daemon writes a V8 CPU profile there when it stops
  if (opts.profile != null) mkdirSync(opts.profile, { recursive: true })
  // daemons run with the Node.js settings the CLI starts them with, unless --plain-node asks to see what those change
  const nodeArgs = [...(opts.plainNode ? [] : DAEMON_NODE_FLAGS), ...(opts.profile != null ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`] : [])]
  const cluster = new Cluster({ registry, log }, { signal, nodeArgs, env: opts.plainNode ? {} : DAEMON_ENV })
  const ctx: SuiteContext = { cluster, plan, log, signal }
  const want = (s: Section): boolean => opts.only.has(s)
  /** one section: a failure is written into its figures' notes and the run goes on */
  const section = async (s: Section, what: string, fn: () => Promise<Record<string, Figure>>): Promise<void> => {
    if (!want(s)) return
    log(`${what}…`)
    const began = Date.now()
    try {
      Object.assign(figures, await fn())
    } catch (err: any) {
      signal.throwIfAborted()
      log(`${what} failed: ${String(err?.stack ?? err)}`)
      for (const [name, f] of Object.entries(FIGURES)) if (f.section === s) figures[name] = unmeasured(f.unit, `the bench failed: ${String(err?.message ?? err)}`)
    }
    log(`${what}: done in ${((Date.now() - began) / 1000).toFixed(1)} s`)
  }

  let ssh: LoopbackSsh | string = 'not needed'
  let claiming: { claiming: boolean, detail: string } | null = null
  let announceBase: AnnounceResult | undefined
  let fresh: Resident[] | undefined
  try {
    log(`${opts.quick ? 'quick' : 'full'} run; sections: ${[...opts.only].join(', ')}`)
    if (machine.load1AtStart > machine.cpus / 2) log(`the machine is busy (load ${machine.load1AtStart} on ${machine.cpus} cores): every figure will be skewed, baselines too`)
    if (want('fetch') || want('attach')) {
      ssh = await LoopbackSsh.start(registry, log)
      log(typeof ssh === 'string' ? `ssh baselines: ${ssh}` : `sshd on 127.0.0.1:${ssh.port}`)
    }
    // the 2-node baseline first, while the mesh is only two nodes
    await section('announce', 'announcement baseline (2 nodes)', async () => { announceBase = await announceBaseline(ctx); return {} })
    if (SECTIONS.some(s => s !== 'announce' && s !== 'sandbox' && want(s))) {
      const grown = await cluster.grow(plan.meshNodes)
      log(`mesh of ${grown.size}${grown.stoppedBecause != null ? ` (stopped: ${grown.stoppedBecause})` : ''}; ${(await cluster.converge(plan.convergeMs)).detail}`)
      fresh = cluster.nodes.map(n => residentBytes(n.pid))
      claiming = await probeClaiming(ctx)
      log(`claiming: ${claiming.detail}`)
    }
    await section('dispatch', 'dispatch', async () => await dispatch(ctx))
    await section('throughput', 'throughput', async () => ({ throughput_jobs_per_s: await throughput(ctx) }))
    await section('log', 'log throughput', async () => ({ log_mb_per_s: await logThroughput(ctx) }))
    await section('cache', 'cache hit', async () => ({ cache_hit_p50_ms: await cacheHit(ctx) }))
    await section('fetch', 'fetch', async () => ({ fetch_mb_per_s: await fetchFigure({ ...ctx, registry, ssh }) }))
    await section('attach', 'attach echo', async () => ({ attach_echo_p50_ms: await attachFigure({ ...ctx, registry, ssh }) }))
    await section('idle', `idle (${plan.idleMs / 1000} s)`, async () => await idleFigures({ ...ctx, registry }, { afterJobs: SECTIONS.some(s => s !== 'idle' && s !== 'announce' && s !== 'sandbox' && want(s)), fresh }))
    if (typeof ssh !== 'string') await ssh.stop(registry)
    await section('announce', 'announcement', async () => await announceFigures({ ...ctx, registry }, announceBase))
    await section('sandbox', 'sandbox cost per job', async () => await sandboxFigure(ctx))
  } finally {
    await cluster.stop().catch(err => { log(`stopping the mesh: ${String(err)}`) })
    await registry.cleanup(DAEMON_STOP_GRACE_MS)
  }

  const result = {
    machine,
    mesh: { claiming: claiming?.claiming ?? null, detail: claiming?.detail ?? 'not probed', joinRetries: cluster.joinRetries },
    mode: opts.quick ? 'quick' : 'full',
    sections: [...opts.only],
    finishedAt: new Date().toISOString(),
    durationS: Math.round((Date.now() - t0) / 1000),
    figures
  }
  mkdirSync(dirname(opts.out), { recursive: true })
  writeFileSync(opts.out, JSON.stringify(result, null, 2) + '\n')
  process.stdout.write(`\n${table(figures)}\n\nNotes:\n${notes(figures)}\n\nwritten to ${opts.out} (${result.durationS} s)\n`)
  return 0
}

main().then(code => { process.exitCode = code }, err => {
  log(`the bench stopped: ${String(err?.stack ?? err)}`)
  process.exitCode = 1
})
