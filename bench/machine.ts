import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem, type as osType } from 'node:os'
import { CLOCK_TICKS_PER_SECOND } from './constants.js'

/** the `machine` object of the results */
export interface MachineInfo {
  cpus: number
  model: string
  memGiB: number
  node: string
  os: string
  /** 1-minute load average when the run began: other work on the machine skews every figure */
  load1AtStart: number
}

export function machineInfo (): MachineInfo {
  const list = cpus()
  return {
    cpus: list.length,
    model: list[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round(totalmem() / 1024 ** 3 * 10) / 10,
    node: process.version,
    os: `${osType()} ${release()}`,
    load1AtStart: Math.round(loadavg()[0] * 100) / 100
  }
}

/** resident set size of a process in bytes, from /proc/<pid>/status (VmRSS) */
export function rssBytes (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (m == null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1]) * 1024
}

/** a process's resident memory in bytes, from /proc/<pid>/status: all of it, and its anonymous and file-backed parts */
export interface Resident { rss: number, anon: number, file: number }

export function residentBytes (pid: number): Resident {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)
    if (m == null) throw new Error(`no ${field} for pid ${pid}`)
    return Number(m[1]) * 1024
  }
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') }
}

/** user + system CPU time of a process in ms, from /proc/<pid>/stat (fields 14 and 15) */
export function cpuMs (pid: number): number {
  const { user, system } = cpuSplitMs(pid)
  return user + system
}

/** a process's CPU time so far in ms, in user space and in the kernel (page cache, sockets, faults) */
export function cpuSplitMs (pid: number): { user: number, system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc/${pid}/stat`)
  return { user: utime * 1000 / CLOCK_TICKS_PER_SECOND, system: stime * 1000 / CLOCK_TICKS_PER_SECOND }
}

/** CPU use of a set of processes over a window: call `start()`, wait, then `finish()` */
export class CpuWindow {
  private readonly begin = new Map<number, number>()
  private startedAt = 0

  constructor (private readonly pids: number[]) {}

  start (): void {
    this.startedAt = performance.now()
    for (const pid of this.pids) this.begin.set(pid, cpuMs(pid))
  }

  /** ms of CPU each process used since `start()` */
  used (): Map<number, number> {
    return new Map(this.pids.map(pid => [pid, cpuMs(pid) - (this.begin.get(pid) ?? 0)]))
  }

  /** percent of one core used by each process over the window */
  finish (): Map<number, number> {
    const wall = performance.now() - this.startedAt
    return new Map([...this.used()].map(([pid, ms]) => [pid, ms / wall * 100]))
  }
}
