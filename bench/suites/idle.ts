/**
 * idle_rss_mib and idle_cpu_pct: every daemon of the mesh left alone for plan.idleMs (nothing
 * polls them meanwhile), read from /proc, against a bare node process idling beside them. The
 * window opens SETTLE_MS after the last work: a node announces the provider records of the
 * blobs its jobs made in one batch once it has had no new one for PROVIDE_QUIET_MS, work that
 * belongs to the jobs, not to rest; the CPU of that settle is in the note.
 */
import { PROVIDE_QUIET_MS } from '../../protocols/fetch/constants.js'
import { startBareNode } from '../local.js'
import { CpuWindow, residentBytes, rssBytes } from '../machine.js'
import { sleep } from '../procs.js'
import { figure } from '../stats.js'
import type { Resident } from '../machine.js'
import type { Registry } from '../procs.js'
import type { Figure } from '../stats.js'
import type { SuiteContext } from './jobs.js'

const MIB = 1024 ** 2
/** how long after the last work the idle window opens: the deferred provider records' quiet spell and their batch */
export const SETTLE_MS = PROVIDE_QUIET_MS + 15_000

/**
 * `history` says what the daemons did before (the job benchmarks, or nothing); `fresh` is their
 * resident memory read right after the mesh formed, for comparison.
 */
export async function idleFigures (ctx: SuiteContext & { registry: Registry }, history: { afterJobs: boolean, fresh?: Resident[] }): Promise<Record<string, Figure>> {
  const { cluster, plan, registry } = ctx
  const bare = startBareNode(registry)
  try {
    const pids = cluster.nodes.map(n => n.pid)
    const settle = new CpuWindow(pids)
    settle.start()
    await sleep(SETTLE_MS, ctx.signal)
    const settled = settle.finish()
    const window = new CpuWindow([...pids, bare])
    // the bare process needs a moment to load; its start-up CPU must not count
    await sleep(1000, ctx.signal)
    window.start()
    await sleep(plan.idleMs, ctx.signal)
    const cpu = window.finish()
    const bareRss = rssBytes(bare) / MIB
    const daemons = pids.map(pid => ({ mem: residentBytes(pid), cpu: cpu.get(pid)! }))
    const maxRss = Math.max(...daemons.map(d => d.mem.rss / MIB))
    const maxCpu = Math.max(...daemons.map(d => d.cpu))
    const fresh = history.fresh != null && history.fresh.length > 0 ? `; right after the mesh formed they had ${residentList(history.fresh)}` : ''
    const where = `${cluster.size}-node mesh${history.afterJobs ? ' after the job benchmarks' : ''}, ${plan.idleMs / 1000} s idle from ${SETTLE_MS / 1000} s after the last work; the worst daemon is reported`
    const settling = `; in those ${SETTLE_MS / 1000} s (deferred provider records) each used ${pids.map(pid => settled.get(pid)!.toFixed(2)).join(', ')} %`
    return {
      idle_rss_mib: figure({ value: maxRss, unit: 'MiB', baseline: bareRss, n: pids.length, note: `${where}; each: ${residentList(daemons.map(d => d.mem))}${fresh}; baseline: \`node -e 'setInterval(()=>{},1000)'\`` }),
      idle_cpu_pct: figure({ value: maxCpu, unit: '% of a core', baseline: cpu.get(bare)!, n: pids.length, note: `${where}; each: ${daemons.map(d => d.cpu.toFixed(2)).join(', ')} %${settling}; baseline: the same bare node process` })
    }
  } finally {
    await registry.stop(bare, 1000)
  }
}

/** "127.0 (anon 79.1), …" in MiB: the anonymous part is what a daemon's own work grows */
function residentList (list: Resident[]): string {
  return `${list.map(m => `${(m.rss / MIB).toFixed(1)} (anon ${(m.anon / MIB).toFixed(1)})`).join(', ')} MiB`
}
