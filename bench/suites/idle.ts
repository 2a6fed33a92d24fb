/**
 * idle_rss_mib and idle_cpu_pct: every daemon of the mesh left alone for plan.idleMs (nothing
 * polls them meanwhile), read from /proc, against a bare node process idling beside them.
 */
import { startBareNode } from '../local.js'
import { CpuWindow, rssBytes } from '../machine.js'
import { sleep } from '../procs.js'
import { figure } from '../stats.js'
import type { Registry } from '../procs.js'
import type { Figure } from '../stats.js'
import type { SuiteContext } from './jobs.js'

const MIB = 1024 ** 2

/**
 * `history` says what the daemons did before (the job benchmarks, or nothing); `freshRssMib` is
 * their RSS read right after the mesh formed, for comparison.
 */
export async function idleFigures (ctx: SuiteContext & { registry: Registry }, history: { afterJobs: boolean, freshRssMib?: number[] }): Promise<Record<string, Figure>> {
  const { cluster, plan, registry } = ctx
  const bare = startBareNode(registry)
  try {
    const pids = cluster.nodes.map(n => n.pid)
    const window = new CpuWindow([...pids, bare])
    // the bare process needs a moment to load; its start-up CPU must not count
    await sleep(1000, ctx.signal)
    window.start()
    await sleep(plan.idleMs, ctx.signal)
    const cpu = window.finish()
    const rss = new Map([...pids, bare].map(pid => [pid, rssBytes(pid) / MIB]))
    const daemons = pids.map(pid => ({ rss: rss.get(pid)!, cpu: cpu.get(pid)! }))
    const maxRss = Math.max(...daemons.map(d => d.rss))
    const maxCpu = Math.max(...daemons.map(d => d.cpu))
    const list = (k: 'rss' | 'cpu', digits: number): string => daemons.map(d => d[k].toFixed(digits)).join(', ')
    const fresh = history.freshRssMib != null && history.freshRssMib.length > 0 ? `; right after the mesh formed they had ${history.freshRssMib.map(r => r.toFixed(1)).join(', ')} MiB` : ''
    const where = `${cluster.size}-node mesh${history.afterJobs ? ' after the job benchmarks' : ' that ran no jobs'}, ${plan.idleMs / 1000} s idle; the worst daemon is reported`
    return {
      idle_rss_mib: figure({ value: maxRss, unit: 'MiB', baseline: rss.get(bare)!, n: pids.length, note: `${where}; each: ${list('rss', 1)} MiB${fresh}; baseline: \`node -e 'setInterval(()=>{},1000)'\`` }),
      idle_cpu_pct: figure({ value: maxCpu, unit: '% of a core', baseline: cpu.get(bare)!, n: pids.length, note: `${where}; each: ${list('cpu', 2)} %; baseline: the same bare node process` })
    }
  } finally {
    await registry.stop(bare, 1000)
  }
}
