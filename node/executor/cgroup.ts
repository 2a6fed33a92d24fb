/**
 * A cgroup per job run: the pids controller bounds the number of processes (root ignores
 * RLIMIT_NPROC, cgroups bind root too), memory limits and measures the tree, cpuacct (v1) or
 * cpu.stat (v2) measures CPU time, and cgroup.procs names every process to kill, including
 * those that left the step's session or process group.
 */
import { access, mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CGROUP_REMOVE_TIMEOUT_MS, KILL_POLL_MS } from './constants.js'
import { signalPid } from './containment.js'
import { CgroupError } from './errors.js'
import { RUN_GROUP_PATTERN } from './cgroup-detect.js'
import type { CgroupSupport, V1Controller } from './cgroup-detect.js'
import type { Containment, MeasuredUsage } from './containment.js'
import type { LimitName } from './types.js'
import type { Logger } from '../../store/logger.js'

/** the limits a cgroup enforces (the rest are rlimits or the executor's own) */
export interface CgroupLimits {
  maxProcesses: number
  maxMemoryBytes: number
}

async function readText (file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch {
    return undefined
  }
}

/** the value after `key ` in a flat-keyed cgroup file (`max 3`, `oom_kill 1`, `usage_usec 52`) */
export function keyedValue (text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text)
  return m == null ? undefined : Number(m[1])
}

function numberOf (text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text.trim())
  return Number.isFinite(n) ? n : undefined
}

/** A job run's cgroup (one group per v1 controller, or one v2 group). */
export class CgroupContainment implements Containment {
  readonly kind: string
  readonly procsFiles: string[]
  readonly measures: { cpu: boolean, memory: boolean }
  readonly nprocLimit: number | undefined
  private readonly groups: Partial<Record<V1Controller | 'v2', string>>
  private readonly log: Logger

  private constructor (kind: string, groups: Partial<Record<V1Controller | 'v2', string>>, log: Logger, maxProcesses: number, v2Peak = false) {
    this.kind = kind
    this.groups = groups
    this.log = log
    // without a pids group, RLIMIT_NPROC is the only process bound left (it binds non-root users only)
    this.nprocLimit = groups.pids === undefined && groups.v2 === undefined ? maxProcesses : undefined
    this.procsFiles = Object.values(groups).map(dir => join(dir, 'cgroup.procs'))
    // v2 has memory.peak only from Linux 5.19: older kernels fall back to sampling
    this.measures = kind === 'cgroup-v2'
      ? { cpu: true, memory: v2Peak }
      : { cpu: groups.cpuacct !== undefined, memory: groups.memory !== undefined }
  }

  /**
   * Create the groups named `name` and set their limits. On v1 a controller whose group cannot
   * be created is left out with a warning; throws when no group could be created at all.
   */
  static async create (support: Exclude<CgroupSupport, { mode: 'none' }>, name: string, limits: CgroupLimits, log: Logger): Promise<CgroupContainment> {
    const groups: Partial<Record<V1Controller | 'v2', string>> = {}
    try {
      if (support.mode === 'v2') {
        const dir = join(support.parent, name)
        await mkdir(dir)
        groups.v2 = dir
        await writeFile(join(dir, 'pids.max'), String(limits.maxProcesses))
        if (support.controllers.includes('memory')) await writeFile(join(dir, 'memory.max'), String(limits.maxMemoryBytes))
      } else {
        for (const [controller, parent] of Object.entries(support.parents) as Array<[V1Controller, string]>) {
          const dir = join(parent, name)
          try {
            await mkdir(dir)
            groups[controller] = dir
          } catch (err) {
            log.warn('could not create a job cgroup', { controller, dir, err })
          }
        }
        if (Object.keys(groups).length === 0) throw new CgroupError(`no cgroup could be created for ${name}`)
        if (groups.pids !== undefined) await writeFile(join(groups.pids, 'pids.max'), String(limits.maxProcesses))
        if (groups.memory !== undefined) await writeFile(join(groups.memory, 'memory.limit_in_bytes'), String(limits.maxMemoryBytes))
      }
    } catch (err) {
      // nothing has joined the groups yet: they are empty and go at once
      for (const dir of Object.values(groups)) await rmdir(dir).catch(() => {})
      throw err
    }
    const v2Peak = groups.v2 !== undefined && await access(join(groups.v2, 'memory.peak')).then(() => true, () => false)
    return new CgroupContainment(support.mode === 'v1' ? 'cgroup-v1' : 'cgroup-v2', groups, log, limits.maxProcesses, v2Peak)
  }

  /** whether the kernel bounds the job's process count (a pids group exists) */
  get countsProcesses (): boolean {
    return this.groups.pids !== undefined || this.groups.v2 !== undefined
  }

  addSession (): void {
    // cgroup membership is inherited by every child: nothing to track
  }

  async pids (): Promise<number[]> {
    const dir = this.groups.v2 ?? this.groups.pids ?? this.groups.memory ?? this.groups.cpuacct
    if (dir === undefined) return []
    const text = await readText(join(dir, 'cgroup.procs'))
    if (text === undefined) return []
    return text.split('\n').filter(Boolean).map(Number)
  }

  async signalAll (signal: NodeJS.Signals): Promise<number> {
    if (signal === 'SIGKILL' && this.groups.v2 !== undefined) {
      // cgroup.kill (Linux 5.14+) kills the whole group at once, forks in flight included
      const ok = await writeFile(join(this.groups.v2, 'cgroup.kill'), '1').then(() => true, () => false)
      if (ok) return (await this.pids()).length
    }
    let count = 0
    for (const pid of await this.pids()) if (signalPid(pid, signal)) count++
    return count
  }

  async usage (): Promise<MeasuredUsage> {
    const out: MeasuredUsage = {}
    if (this.groups.v2 !== undefined) {
      const usec = keyedValue(await readText(join(this.groups.v2, 'cpu.stat')), 'usage_usec')
      if (usec !== undefined) out.cpuMs = usec / 1000
      const peak = numberOf(await readText(join(this.groups.v2, 'memory.peak')))
      if (peak !== undefined) out.maxRssBytes = peak
      return out
    }
    if (this.groups.cpuacct !== undefined) {
      const ns = numberOf(await readText(join(this.groups.cpuacct, 'cpuacct.usage')))
      if (ns !== undefined) out.cpuMs = ns / 1e6
    }
    if (this.groups.memory !== undefined) {
      const peak = numberOf(await readText(join(this.groups.memory, 'memory.max_usage_in_bytes')))
      if (peak !== undefined) out.maxRssBytes = peak
    }
    return out
  }

  async limitsHit (): Promise<LimitName[]> {
    const hit: LimitName[] = []
    const pidsDir = this.groups.v2 ?? this.groups.pids
    if (pidsDir !== undefined && (keyedValue(await readText(join(pidsDir, 'pids.events')), 'max') ?? 0) > 0) hit.push('processes')
    const memFile = this.groups.v2 !== undefined
      ? join(this.groups.v2, 'memory.events')
      : this.groups.memory !== undefined ? join(this.groups.memory, 'memory.oom_control') : undefined
    if (memFile !== undefined && (keyedValue(await readText(memFile), 'oom_kill') ?? 0) > 0) hit.push('memory')
    return hit
  }

  /** remove the groups; one still busy (a process just forked, a zombie not yet released) is emptied again */
  async dispose (): Promise<void> {
    for (const dir of Object.values(this.groups)) await killAndRemove(dir, this.log)
  }

  /** for tests and diagnostics: the group directories */
  get directories (): string[] { return Object.values(this.groups) }
}

/** SIGKILL whatever is in the group `dir` until it can be removed, then remove it (bounded by CGROUP_REMOVE_TIMEOUT_MS) */
export async function killAndRemove (dir: string, log: Logger): Promise<boolean> {
  const deadline = Date.now() + CGROUP_REMOVE_TIMEOUT_MS
  for (;;) {
    try {
      await rmdir(dir)
      return true
    } catch (err: any) {
      if (err?.code === 'ENOENT') return true
      if (err?.code !== 'EBUSY' || Date.now() > deadline) {
        log.warn('could not remove a job cgroup', { dir, err })
        return false
      }
    }
    const procs = (await readText(join(dir, 'cgroup.procs'))) ?? ''
    for (const pid of procs.split('\n').filter(Boolean)) signalPid(Number(pid), 'SIGKILL')
    await new Promise(resolve => setTimeout(resolve, KILL_POLL_MS))
  }
}

/**
 * Kill and remove the groups of runs whose daemon is gone (`cit-<daemon pid>-<random>` with no
 * such process): a daemon that crashed or was killed mid-job left its job's processes running,
 * perhaps still writing into a workspace a new run will use. Groups of live daemons (several may
 * share a machine) are left alone. Returns how many groups were reaped.
 */
export async function reapStaleGroups (support: CgroupSupport, log: Logger): Promise<number> {
  const parents = support.mode === 'v1' ? Object.values(support.parents) : support.mode === 'v2' ? [support.parent] : []
  let reaped = 0
  for (const parent of parents) {
    const names = await readdir(parent).catch(() => [] as string[])
    for (const name of names) {
      const owner = RUN_GROUP_PATTERN.exec(name)?.[1]
      if (owner === undefined || processExists(Number(owner))) continue
      log.warn('removing the cgroup of a run whose daemon is gone, and its processes', { dir: join(parent, name) })
      if (await killAndRemove(join(parent, name), log)) reaped++
    }
  }
  return reaped
}

function processExists (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    // EPERM: it exists, it is just not ours to signal
    return err?.code === 'EPERM'
  }
}

