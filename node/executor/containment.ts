/**
 * What holds one job run's processes together, so they can be limited, measured and killed as one.
 */
import type { LimitName } from './types.js'

/** figures a containment measures exactly; absent ones are sampled */
export interface MeasuredUsage {
  cpuMs?: number
  maxRssBytes?: number
}

/** implemented by CgroupContainment (cgroup.ts) and SessionContainment (procs.ts) */
export interface Containment {
  /** `cgroup-v1`, `cgroup-v2` or `session` (the fallback that follows the steps' sessions in /proc) */
  readonly kind: string
  /**
   * cgroup.procs files the wrapper writes its own pid to before it execs the step's shell, so
   * every process of the step is born inside the job's groups
   */
  readonly procsFiles: string[]
  /** `ulimit -u` for the wrapper when no pids cgroup counts processes (only binds non-root users) */
  readonly nprocLimit?: number
  /** which usage figures `usage()` measures exactly (the rest are sampled from /proc) */
  readonly measures: { cpu: boolean, memory: boolean }
  /** a step or hook started: its pid leads a new session (node-pty calls setsid) */
  addSession: (pid: number) => void
  /** every live process of the job */
  pids: () => Promise<number[]>
  /** send `signal` to every live process of the job; returns how many were signalled */
  signalAll: (signal: NodeJS.Signals) => Promise<number>
  usage: () => Promise<MeasuredUsage>
  limitsHit: () => Promise<LimitName[]>
  /** remove what was created; call after the processes are gone */
  dispose: () => Promise<void>
}

/** signal one process, ignoring those already gone; true when the signal was sent */
export function signalPid (pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}
