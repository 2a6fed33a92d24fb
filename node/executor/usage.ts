/**
 * Resource usage of one job run: wall time, CPU time of every process, peak memory.
 *
 * Exact where a cgroup accounts for it (cpuacct.usage / cpu.stat, memory.max_usage_in_bytes /
 * memory.peak). Otherwise sampled from /proc every USAGE_SAMPLE_MS: CPU is the sum of each
 * process's last seen user+system time, memory the largest of any process's VmHWM and of the
 * summed VmRSS of one sample. Sampling misses processes that live less than one interval and the
 * last moments of the others, so it undercounts: treat it as a lower bound.
 */
import { CLOCK_TICKS_PER_SECOND, USAGE_SAMPLE_MS } from './constants.js'
import { readRss, readStat } from './procs.js'
import type { Containment } from './containment.js'
import type { Usage } from './types.js'

/** Measures one run: start() when it starts, finish() once its processes are gone. */
export class UsageMeter {
  private readonly containment: Containment
  private readonly ticks = new Map<string, number>()
  private sampledRss = 0
  private startedAt = 0
  private timer: NodeJS.Timeout | undefined
  private sampling: Promise<void> | undefined

  constructor (containment: Containment) {
    this.containment = containment
  }

  get sampled (): boolean {
    return !this.containment.measures.cpu || !this.containment.measures.memory
  }

  start (): void {
    this.startedAt = performance.now()
    if (!this.sampled) return
    this.timer = setInterval(() => { void this.sample() }, USAGE_SAMPLE_MS)
    // the run's own end stops the meter; never keep the process alive for it
    this.timer.unref()
  }

  /** one pass over the job's processes (skipped while the previous pass is still reading) */
  async sample (): Promise<void> {
    if (this.sampling !== undefined) return await this.sampling
    this.sampling = (async () => {
      let rss = 0
      for (const pid of await this.containment.pids()) {
        const st = await readStat(pid)
        if (st === undefined) continue
        const key = `${pid}:${st.startTime}`
        this.ticks.set(key, Math.max(this.ticks.get(key) ?? 0, st.ticks))
        const mem = await readRss(pid)
        if (mem === undefined) continue
        rss += mem.rss
        this.sampledRss = Math.max(this.sampledRss, mem.hwm)
      }
      this.sampledRss = Math.max(this.sampledRss, rss)
    })().finally(() => { this.sampling = undefined })
    return await this.sampling
  }

  /** Stop sampling and return the figures; call after the job's processes are gone. */
  async finish (): Promise<Usage> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    if (this.sampling !== undefined) await this.sampling
    const wallMs = Math.round(performance.now() - this.startedAt)
    const measured = await this.containment.usage()
    let sampledCpu = 0
    for (const t of this.ticks.values()) sampledCpu += t
    return {
      wallMs,
      cpuMs: Math.round(measured.cpuMs ?? sampledCpu * 1000 / CLOCK_TICKS_PER_SECOND),
      maxRssBytes: measured.maxRssBytes ?? this.sampledRss
    }
  }
}
