/**
 * `export` in config.json: finished jobs shipped to Elasticsearch (or OpenSearch) with the bulk
 * API, batched and retried, each document under its job id so a document sent twice is one.
 * Only the jobs submitted on this node, so each is shipped by one member.
 */
import { deliver } from './deliver.js'
import type { Logger } from '../../store/logger.js'
import type { JobRow } from '../jobs/types.js'

/** documents per bulk request at most */
export const EXPORT_BATCH = 100
/** a batch waits at most this long for more documents */
export const EXPORT_FLUSH_MS = 2000
/** documents held while the index is unreachable; past this the oldest are dropped (and counted) */
export const EXPORT_MAX_PENDING = 10_000

export interface ExportConfig { elasticsearch: string, index: string }

/** check `export`, naming each problem by its dotted path */
export function checkExportConfig (raw: unknown, problems: Array<{ path: string, message: string }>): ExportConfig | undefined {
  if (typeof raw !== 'object' || raw == null || Array.isArray(raw)) { problems.push({ path: 'export', message: 'must be { elasticsearch, index }' }); return undefined }
  const r = raw as Record<string, unknown>
  const before = problems.length
  for (const k of Object.keys(r)) if (!['elasticsearch', 'index'].includes(k)) problems.push({ path: `export.${k}`, message: 'unknown field (elasticsearch, index)' })
  if (typeof r.elasticsearch !== 'string' || !/^https?:\/\/[^\s]+$/.test(r.elasticsearch)) problems.push({ path: 'export.elasticsearch', message: 'an http(s) URL' })
  if (typeof r.index !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,254}$/.test(r.index)) problems.push({ path: 'export.index', message: 'an index name (lower case, digits, . _ -)' })
  return problems.length === before ? { elasticsearch: r.elasticsearch as string, index: r.index as string } : undefined
}

/** the document of a finished job */
export function jobDocument (row: JobRow): Record<string, unknown> {
  return {
    job: row.id,
    name: row.name,
    build: row.build ?? null,
    state: row.state,
    exitCode: row.exitCode ?? null,
    reason: row.reason ?? null,
    submitter: row.submitter,
    origin: row.origin,
    executor: row.executor ?? null,
    submittedAt: new Date(row.submittedAt).toISOString(),
    startedAt: row.startedAt != null ? new Date(row.startedAt).toISOString() : null,
    finishedAt: row.finishedAt != null ? new Date(row.finishedAt).toISOString() : null,
    wallMs: row.usage?.wallMs ?? null,
    cpuMs: row.usage?.cpuMs ?? null,
    maxRssBytes: row.usage?.maxRssBytes ?? null,
    cacheHit: row.cacheHit === true,
    repo: row.source?.repo ?? null,
    commit: row.source?.commit ?? null,
    ref: row.source?.ref ?? null,
    log: row.log ?? null,
    artefacts: (row.artefacts ?? []).map(a => ({ path: a.path, sha256: a.sha256, size: a.size }))
  }
}

const FINAL = new Set(['succeeded', 'failed', 'timed-out', 'cancelled', 'superseded'])

export class Exporter {
  private readonly pending = new Map<string, Record<string, unknown>>()
  private readonly controller = new AbortController()
  private readonly counts = new Map<string, number>()
  private timer?: ReturnType<typeof setTimeout>
  private flushing?: Promise<void>

  constructor (private readonly c: { logger: Logger }, private readonly init: ExportConfig & { self: string, retryBaseMs?: number, flushMs?: number }) {}

  stats (): Record<string, number> { return Object.fromEntries(this.counts) }

  stop (): void {
    this.controller.abort(new Error('the daemon is stopping'))
    if (this.timer != null) clearTimeout(this.timer)
  }

  onChange (row: JobRow): void {
    if (row.origin !== this.init.self || !FINAL.has(row.state) || this.controller.signal.aborted) return
    this.pending.set(row.id, jobDocument(row))
    if (this.pending.size > EXPORT_MAX_PENDING) {
      const oldest = this.pending.keys().next().value
      if (oldest != null) this.pending.delete(oldest)
      this.count('dropped')
    }
    if (this.pending.size >= EXPORT_BATCH) this.flushSoon(0)
    else this.flushSoon(this.init.flushMs ?? EXPORT_FLUSH_MS)
  }

  private flushSoon (ms: number): void {
    if (this.timer != null && ms > 0) return
    if (this.timer != null) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flushing ??= this.flush().finally(() => {
        this.flushing = undefined
        if (this.pending.size > 0 && !this.controller.signal.aborted) this.flushSoon(this.init.flushMs ?? EXPORT_FLUSH_MS)
      })
    }, ms)
  }

  private async flush (): Promise<void> {
    const batch = [...this.pending.entries()].slice(0, EXPORT_BATCH)
    if (batch.length === 0) return
    const body = batch.map(([id, doc]) => `${JSON.stringify({ index: { _index: this.init.index, _id: id } })}\n${JSON.stringify(doc)}\n`).join('')
    const r = await deliver(`${this.init.elasticsearch.replace(/\/+$/, '')}/_bulk`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'user-agent': 'cit-node' }, body }, { signal: this.controller.signal, retryBaseMs: this.init.retryBaseMs })
    if (r.result === 'stopped') return
    if (r.result === 'posted') {
      for (const [id] of batch) this.pending.delete(id)
      this.count('shipped', batch.length)
    } else {
      this.count(r.result === 'refused' ? 'refused' : 'gave-up', batch.length)
      this.c.logger.warn('finished jobs not shipped to the index', { result: r.result, status: r.status, documents: batch.length })
      // a refused batch would be refused again: it is dropped; one that gave up is tried at the next flush
      if (r.result === 'refused') for (const [id] of batch) this.pending.delete(id)
    }
  }

  private count (what: string, n = 1): void { this.counts.set(what, (this.counts.get(what) ?? 0) + n) }
}
