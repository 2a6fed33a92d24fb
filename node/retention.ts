import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { BlobStore } from '../store/blobs/types.js'
import type { Logger } from '../store/logger.js'
import { blobsOf } from '../protocols/job/records.js'
import type { JobStore } from './jobs/job-store.js'

/** results per job name whose log and artefacts are never evicted */
export const DEFAULT_KEEP_RESULTS = 5

export interface RetentionInit {
  /** most bytes of blobs to keep (undefined: no quota) */
  blobsBytes?: number
  /** most bytes of workspaces to keep (undefined: no quota) */
  workspacesBytes?: number
  keepResults?: number
  workspacesDir: string
}

export interface GcReport {
  blobs: { removed: number, freedBytes: number, keptBytes: number, pinned: number }
  workspaces: { removed: string[], freedBytes: number, keptBytes: number }
}

async function dirSize (path: string): Promise<{ bytes: number, newest: number }> {
  let bytes = 0
  let newest = 0
  const walk = async (p: string): Promise<void> => {
    let entries
    try { entries = await readdir(p, { withFileTypes: true }) } catch { return }
    for (const e of entries) {
      const full = join(p, e.name)
      try {
        const s = await stat(full)
        newest = Math.max(newest, s.mtimeMs)
        if (e.isDirectory()) await walk(full)
        else if (e.isFile()) bytes += s.size
      } catch {
        // a file a job removed while this walked is simply not counted
      }
    }
  }
  await walk(path)
  return { bytes, newest }
}

/**
 * Keeps blobs and workspaces under their quotas, least recently used first. Pinned and never
 * removed: the log and artefacts of the newest `keepResults` results of each job name, and the
 * workspaces of running jobs.
 */
export class Retention {
  constructor (private readonly c: { blobs: BlobStore, jobs: JobStore, logger: Logger, running: () => string[], onRemoved?: (hash: string) => void }, private readonly init: RetentionInit) {}

  /** hashes that must stay */
  async pinned (): Promise<Set<string>> {
    const keep = this.init.keepResults ?? DEFAULT_KEEP_RESULTS
    const perName = new Map<string, number>()
    const pins = new Set<string>()
    for await (const row of this.c.jobs.list({ newestFirst: true })) {
      if (row.log == null) continue
      const n = perName.get(row.name) ?? 0
      if (n >= keep) continue
      perName.set(row.name, n + 1)
      for (const h of blobsOf({ log: row.log, artefacts: row.artefacts ?? [], nix: row.nix, provenance: row.provenance })) pins.add(h)
    }
    return pins
  }

  /** whether a quota is set and exceeded (cheap enough to ask after every job) */
  hasQuota (): boolean {
    return this.init.blobsBytes != null || this.init.workspacesBytes != null
  }

  async collect (options: { signal?: AbortSignal } = {}): Promise<GcReport> {
    const report: GcReport = { blobs: { removed: 0, freedBytes: 0, keptBytes: 0, pinned: 0 }, workspaces: { removed: [], freedBytes: 0, keptBytes: 0 } }
    const pins = await this.pinned()
    const blobs: Array<{ hash: string, size: number, used: number }> = []
    for await (const b of this.c.blobs.list(options)) {
      let used = 0
      try {
        const s = await stat(this.c.blobs.pathOf(b.hash))
        used = Math.max(s.atimeMs, s.mtimeMs)
      } catch (err) {
        this.c.logger.debug('cannot read a blob\'s times: it counts as least recently used', { hash: b.hash, err })
      }
      blobs.push({ hash: b.hash, size: b.size, used })
    }
    let total = blobs.reduce((n, b) => n + b.size, 0)
    report.blobs.pinned = blobs.filter(b => pins.has(b.hash)).length
    if (this.init.blobsBytes != null) {
      for (const b of blobs.filter(b => !pins.has(b.hash)).sort((x, y) => x.used - y.used)) {
        if (total <= this.init.blobsBytes) break
        options.signal?.throwIfAborted()
        await this.c.blobs.delete(b.hash)
        this.c.onRemoved?.(b.hash)
        total -= b.size
        report.blobs.removed++
        report.blobs.freedBytes += b.size
      }
    }
    report.blobs.keptBytes = total
    const running = new Set(this.c.running())
    const spaces: Array<{ name: string, bytes: number, newest: number }> = []
    let names: string[] = []
    try {
      names = (await readdir(this.init.workspacesDir)).filter(n => !n.startsWith('.'))
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.c.logger.warn('cannot list the workspaces', { err })
    }
    for (const name of names) spaces.push({ name, ...await dirSize(join(this.init.workspacesDir, name)) })
    let wsTotal = spaces.reduce((n, w) => n + w.bytes, 0)
    if (this.init.workspacesBytes != null) {
      for (const w of spaces.filter(w => !running.has(w.name)).sort((x, y) => x.newest - y.newest)) {
        if (wsTotal <= this.init.workspacesBytes) break
        await rm(join(this.init.workspacesDir, w.name), { recursive: true, force: true })
        wsTotal -= w.bytes
        report.workspaces.removed.push(w.name)
        report.workspaces.freedBytes += w.bytes
      }
    }
    report.workspaces.keptBytes = wsTotal
    if (report.blobs.removed > 0 || report.workspaces.removed.length > 0) this.c.logger.info('retention freed space', { ...report })
    return report
  }
}
