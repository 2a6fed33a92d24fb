/**
 * Handing a workspace to the build user of its next run. Workspaces persist per job name; the
 * build user of a run is usually the one that owns the workspace already (BuildUsers prefers
 * it), and then nothing is walked. When another user runs it (its owner was busy with another
 * job), what the earlier build user made is given to the new one, file by file.
 *
 * The walk runs as root over a directory a job wrote, so it trusts nothing in it: it never
 * follows a symbolic link (lstat, lchown), and it changes only what a build user owns, plus
 * directories and single-link files the daemon's own user owns (the workspace itself, and
 * workspaces from before the sandbox). A hard link a job made to a file of someone else (the
 * classic `ln /etc/shadow x` before a `chown -R`) keeps its owner.
 */
import { lchown, lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Stats } from 'node:fs'

export interface HandOverOptions {
  uid: number
  gid: number
  /** whether `uid` belongs to a build user */
  isBuildUid: (uid: number) => boolean
  /** the daemon's own uid */
  daemonUid: number
  signal?: AbortSignal
}

/** what a hand-over did */
export interface HandOverReport {
  /** entries given to the new user */
  changed: number
  /** entries left alone (owned by someone else) */
  kept: number
}

/** whether the walk may give this entry to the new user */
export function mayHandOver (st: Stats, options: HandOverOptions): boolean {
  if (options.isBuildUid(st.uid)) return true
  return st.uid === options.daemonUid && (st.isDirectory() || st.nlink === 1)
}

/**
 * Give the workspace `dir` to `uid:gid`. Nothing is walked when its top directory already
 * belongs to them (a workspace is handed over whole, or the run fails before it is used).
 */
export async function handOver (dir: string, options: HandOverOptions): Promise<HandOverReport> {
  const report: HandOverReport = { changed: 0, kept: 0 }
  const top = await lstat(dir)
  if (top.uid === options.uid && top.gid === options.gid) return report
  // depth first, parents after their children: a workspace is only marked handed over (its top
  // directory changed) once everything in it has been
  const visit = async (path: string, st: Stats): Promise<void> => {
    options.signal?.throwIfAborted()
    if (st.isDirectory()) {
      for (const entry of await readdir(path)) {
        const child = join(path, entry)
        const cst = await lstat(child).catch(() => undefined)
        if (cst !== undefined) await visit(child, cst)
      }
    }
    if (st.uid === options.uid && st.gid === options.gid) return
    if (!mayHandOver(st, options)) {
      report.kept++
      return
    }
    await lchown(path, options.uid, options.gid)
    report.changed++
  }
  await visit(dir, top)
  return report
}
