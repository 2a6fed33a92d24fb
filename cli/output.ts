import { shortJob, shortPeer } from '../node/short-id.js'
import type { JobView } from '../node/jobs/types.js'

/** Everything the CLI prints goes through an Output, so tests can capture it. */
export interface Output {
  out: (text: string) => void
  err: (text: string) => void
  /** raw bytes to stdout (job output, fetched blobs) */
  raw: (chunk: Uint8Array | string) => Promise<void>
  isTTY: boolean
  errIsTTY: boolean
}

export const processOutput: Output = {
  out: text => { process.stdout.write(text + '\n') },
  err: text => { process.stderr.write(text + '\n') },
  raw: async chunk => {
    if (!process.stdout.write(chunk)) await new Promise(resolve => process.stdout.once('drain', resolve))
  },
  isTTY: process.stdout.isTTY === true,
  errIsTTY: process.stderr.isTTY === true
}

/** a job id or hash as people see it: its first 12 hex digits (node/short-id.ts) */
export function shortId (id: string | null | undefined): string {
  return shortJob(id)
}

export function duration (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const m = Math.floor(ms / 60_000)
  return m < 60 ? `${m} min ${Math.round((ms % 60_000) / 1000)} s` : `${Math.floor(m / 60)} h ${m % 60} min`
}

export function bytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`
}

export function ago (at: number, now = Date.now()): string {
  return `${duration(Math.max(0, now - at))} ago`
}

/** A plain text table: columns padded to their widest cell. */
export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

/** where a job ran, as people read it: "this node" for the node the command talks to */
export function where (peerId: string | null, self?: string): string {
  return peerId === self ? 'this node' : `node ${shortPeer(peerId)}`
}

/** The one line printed when a job ends: its outcome, where it ran and how long it took. */
export function outcomeLine (job: JobView, self?: string): string {
  if (job.cacheHit) return cacheHitLine(job, self)
  const on = job.executor != null ? ` on ${where(job.executor, self)}` : ''
  const took = job.usage != null ? ` in ${duration(job.usage.wallMs)}` : ''
  const why = job.reason != null ? `: ${job.reason}` : ''
  const code = job.exitCode != null && job.state !== 'succeeded' ? ` (exit ${job.exitCode})` : ''
  return `cit-node: ${job.name} ${job.state}${on}${took}${code}${why} [job ${shortId(job.id)}]`
}

/** a cache hit ran nothing: it says whose result it reused, and that run's node and time as that run's */
function cacheHitLine (job: JobView, self?: string): string {
  const ran = job.executor != null ? `, which ran on ${where(job.executor, self)}${job.usage != null ? ` in ${duration(job.usage.wallMs)}` : ''}` : ''
  return `cit-node: ${job.name} ${job.state} from the cache: the result of job ${shortId(job.cachedFrom)}${ran} [job ${shortId(job.id)}]`
}

/** The human form of `show`. */
export function formatJob (job: JobView): string {
  const lines = [
    `job        ${job.id}`,
    `name       ${job.name}`,
    `state      ${job.state}${job.reason != null ? ` (${job.reason})` : ''}`,
    `priority   ${job.priority}`,
    `submitter  ${job.submitter}`,
    `submitted  ${new Date(job.submittedAt).toISOString()}`,
    `executor   ${job.executor ?? '-'}${job.cacheHit ? ' (it ran the job this result came from)' : ''}`,
    `exit code  ${job.exitCode ?? '-'}`
  ]
  if (job.cacheHit) lines.push(`cache      hit: the result of job ${job.cachedFrom ?? '?'}; this job ran nothing`)
  if (job.usage != null) lines.push(`usage      ${job.cacheHit ? 'of that run: ' : ''}wall ${duration(job.usage.wallMs)}, cpu ${duration(job.usage.cpuMs)}, max rss ${bytes(job.usage.maxRssBytes)}`)
  if (Object.keys(job.params).length > 0) lines.push(`params     ${Object.entries(job.params).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  lines.push(`log        ${job.log ?? '-'}`)
  if (job.artefacts.length > 0) {
    lines.push('artefacts')
    for (const a of job.artefacts) lines.push(`  ${a.sha256}  ${a.mode != null ? a.mode.toString(8).padStart(4, '0') : '    '}  ${bytes(a.size).padStart(10)}  ${a.path}`)
  }
  if (job.nix != null) {
    lines.push(`derivation ${job.nix.drv}`)
    for (const o of job.nix.outputs) lines.push(`  ${o.name}  ${o.path}  ${o.narHash}  closure ${o.closure}`)
  }
  if (job.provenance != null) lines.push(`provenance ${job.provenance}  (cit-node verify ${job.provenance})`)
  if (job.rebuild != null) lines.push(`rebuild of ${job.rebuild.of}: ${job.rebuild.matched ? 'outputs match (co-signed)' : `outputs differ: ${job.rebuild.mismatches.join('; ')}`}`)
  lines.push('events')
  for (const e of job.events) {
    lines.push(`  ${new Date(e.at).toISOString()}  ${e.type.padEnd(16)} ${shortPeer(e.node)}${e.reason != null ? `  ${e.reason}` : ''}`)
  }
  return lines.join('\n')
}
