/**
 * Reading /proc, and the fallback containment for machines where no cgroup is writable: a job's
 * processes are the ones in the sessions its steps started (node-pty makes each step a session
 * leader). A process that starts a session of its own (setsid, daemons) escapes this.
 */
import { readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { signalPid } from './containment.js'
import type { Containment, MeasuredUsage } from './containment.js'
import type { LimitName } from './types.js'

/** the fields of /proc/<pid>/stat the executor uses */
export interface ProcStat {
  pid: number
  /** R, S, D, Z (zombie), ... */
  state: string
  ppid: number
  pgrp: number
  session: number
  /** user + system CPU of this process alone, in ticks (USER_HZ) */
  ticks: number
  /** start time after boot, in ticks: with the pid it names a process uniquely */
  startTime: number
}

/** Parse /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after the last `)`. */
export function parseStat (pid: number, text: string): ProcStat | undefined {
  const end = text.lastIndexOf(')')
  if (end < 0) return undefined
  // fields from 3 (state) on; utime is field 14, stime 15, starttime 22 (1-based)
  const f = text.slice(end + 2).split(' ')
  if (f.length < 20) return undefined
  return {
    pid,
    state: f[0],
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    session: Number(f[3]),
    ticks: Number(f[11]) + Number(f[12]),
    startTime: Number(f[19])
  }
}

/** /proc/<pid>/stat parsed, or undefined when the process is gone */
export async function readStat (pid: number): Promise<ProcStat | undefined> {
  try {
    return parseStat(pid, await readFile(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/** resident set size now and at its peak (VmRSS, VmHWM), in bytes */
export async function readRss (pid: number): Promise<{ rss: number, hwm: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8')
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0)
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 }
  } catch {
    return undefined
  }
}

/** every pid on the machine (as this process can see them) */
export async function allPids (): Promise<number[]> {
  const names = await readdir('/proc').catch(() => [] as string[])
  return names.filter(n => /^\d+$/.test(n)).map(Number)
}

/** whether a process exists and is not a zombie */
export async function isAlive (pid: number): Promise<boolean> {
  const st = await readStat(pid)
  return st !== undefined && st.state !== 'Z'
}

/**
 * The fallback containment: follows the steps' sessions through /proc. A session id outlives its
 * leader while members remain (the kernel does not reuse a pid still in use as a session id); once
 * all are gone the id may be reused, so a session whose leader is alive with another start time
 * is someone else's and left alone.
 */
export class SessionContainment implements Containment {
  readonly kind = 'session'
  readonly procsFiles: string[] = []
  readonly measures = { cpu: false, memory: false }
  readonly nprocLimit: number
  /** session id → start time of the step process that leads it */
  private readonly sessions = new Map<number, number | undefined>()

  constructor (maxProcesses: number) {
    this.nprocLimit = maxProcesses
  }

  addSession (pid: number): void {
    let startTime: number | undefined
    try {
      startTime = parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTime
    } catch {}
    this.sessions.set(pid, startTime)
  }

  async pids (): Promise<number[]> {
    if (this.sessions.size === 0) return []
    const stats: ProcStat[] = []
    for (const pid of await allPids()) {
      if (pid === process.pid) continue
      const st = await readStat(pid)
      // zombies are dead already: their parent (or init) reaps them
      if (st !== undefined && st.state !== 'Z') stats.push(st)
    }
    const leaders = new Map(stats.map(st => [st.pid, st.startTime]))
    const ours = (sid: number): boolean => {
      if (!this.sessions.has(sid)) return false
      const leader = leaders.get(sid)
      const started = this.sessions.get(sid)
      return leader === undefined || started === undefined || leader === started
    }
    return stats.filter(st => ours(st.session) || ours(st.pgrp)).map(st => st.pid)
  }

  async signalAll (signal: NodeJS.Signals): Promise<number> {
    let count = 0
    for (const pid of await this.pids()) if (signalPid(pid, signal)) count++
    return count
  }

  async usage (): Promise<MeasuredUsage> {
    return {}
  }

  async limitsHit (): Promise<LimitName[]> {
    return []
  }

  async dispose (): Promise<void> {}
}
