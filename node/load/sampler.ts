import { opendirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os'
import type { LoadReport, NodeState } from '../../protocols/load/index.js'

/** the workspace list is read from disk at most this often */
export const WORKSPACES_READ_EVERY_MS = 5000
/** workspaces named in one report at most */
export const MAX_REPORTED_WORKSPACES = 256
/** running jobs named in one report at most */
export const MAX_REPORTED_RUNNING = 1024

export type LocalLoad = Omit<LoadReport, 'node' | 'at' | 'seq' | 'addrs'>

export interface LoadSamplerComponents {
  /** the runner's slots now (absent before it starts) */
  slots: () => { slots: number, free: number, running: string[] }
  /** the node's own word: active, paused, draining or gone */
  state: () => NodeState
  /** labels as they are now (they gain `nix` once Nix answers) and the load limit */
  labels: () => string[]
  loadLimit: number
  now?: () => number
}

/**
 * What this machine offers, as its load reports say: the OS's load average, cores and memory,
 * the runner's slots, and the workspaces it keeps (a job whose workspace is here builds
 * incrementally, so ranking prefers this node for it).
 */
export class LoadSampler {
  private workspaceCache = { at: -Infinity, names: [] as string[] }
  private readonly now: () => number

  constructor (private readonly c: LoadSamplerComponents, private readonly init: { workspacesDir: string }) {
    this.now = c.now ?? Date.now
  }

  sample (): LocalLoad {
    const { slots, free, running } = this.c.slots()
    return {
      workspaces: this.workspaceNames(),
      loadLimit: this.c.loadLimit,
      load1: Math.round(loadavg()[0] * 100) / 100,
      cores: availableParallelism(),
      memFreeBytes: freemem(),
      memTotalBytes: totalmem(),
      slots,
      slotsFree: free,
      labels: this.c.labels(),
      state: this.c.state(),
      running: running.slice(0, MAX_REPORTED_RUNNING)
    }
  }

  /**
   * names of the workspaces this node holds that hold something (read at most every
   * WORKSPACES_READ_EVERY_MS): an empty workspace saves a build nothing, so it does not draw the
   * job away from its submitting node (whose output then needs no remote stream)
   */
  private workspaceNames (): string[] {
    const now = this.now()
    if (now - this.workspaceCache.at > WORKSPACES_READ_EVERY_MS) {
      const names: string[] = []
      try {
        // each name costs an opendir: stop at the bound rather than look into every workspace
        for (const n of readdirSync(this.init.workspacesDir)) {
          if (names.length >= MAX_REPORTED_WORKSPACES) break
          if (!n.startsWith('.') && !isEmptyDir(join(this.init.workspacesDir, n))) names.push(n)
        }
      } catch {}
      this.workspaceCache = { at: now, names }
    }
    return this.workspaceCache.names
  }
}

/** whether `path` is a directory without entries (anything unreadable counts as not empty) */
function isEmptyDir (path: string): boolean {
  let dir
  try {
    dir = opendirSync(path)
  } catch {
    return false
  }
  try {
    return dir.readSync() == null
  } catch {
    return false
  } finally {
    dir.closeSync()
  }
}
