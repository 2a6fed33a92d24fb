/** One reported figure (the shape of `figures.<name>` in bench/results/latest.json). */
export interface Figure {
  /** null when it cannot be measured yet; `note` says why */
  value: number | null
  unit: string
  /** the same thing done the plain way, measured in the same run */
  baseline: number | null
  /** value / baseline */
  ratio: number | null
  /** samples (or runs) behind the value */
  n: number
  note?: string
  /** further baselines by name, where there is more than one (fetch: scp and a raw TCP copy) */
  baselines?: Record<string, number | null>
  /** the announcement figures: the worst daemon's RSS and CPU when that mesh then idled */
  idle?: { rssMib: number | null, cpuPct: number | null }
}

/** nearest-rank quantile of already sorted numbers: q = 0.5 is the median, 0.99 the p99 */
export function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of no samples')
  if (q <= 0) return sorted[0]
  const rank = Math.ceil(q * sorted.length)
  return sorted[Math.min(sorted.length, rank) - 1]
}

export function sortedCopy (values: number[]): number[] {
  return [...values].sort((a, b) => a - b)
}

/** round to `digits` significant-ish decimals so the JSON stays readable */
export function round (v: number, digits = 3): number {
  if (!Number.isFinite(v)) return v
  const scale = Math.abs(v) >= 100 ? 10 : Math.abs(v) >= 1 ? 1000 : 10 ** (digits + 2)
  return Math.round(v * scale) / scale
}

export function figure (init: { value: number | null, unit: string, baseline: number | null, n: number, note?: string, baselines?: Record<string, number | null> }): Figure {
  const value = init.value == null ? null : round(init.value)
  const baseline = init.baseline == null ? null : round(init.baseline)
  const ratio = init.value != null && init.baseline != null && init.baseline !== 0 ? round(init.value / init.baseline) : null
  const f: Figure = { value, unit: init.unit, baseline, ratio, n: init.n }
  if (init.note != null && init.note !== '') f.note = init.note
  if (init.baselines != null) f.baselines = Object.fromEntries(Object.entries(init.baselines).map(([k, v]) => [k, v == null ? null : round(v)]))
  return f
}

/** a figure that could not be measured, with the reason (and a baseline if that much was measured) */
export function unmeasured (unit: string, note: string, baseline: number | null = null, extra: Partial<Figure> = {}): Figure {
  return { ...figure({ value: null, unit, baseline, n: 0, note }), ...extra }
}

/** The goal of each figure (docs/benchmarks.md), checked against a result. */
export const GOALS: Record<string, { text: string, met: (f: Figure) => boolean | null }> = {
  dispatch_p50_ms: { text: '≤ 50 ms', met: f => f.value == null ? null : f.value <= 50 },
  dispatch_p99_ms: { text: '(no goal)', met: () => null },
  throughput_jobs_per_s: { text: '≥ 0.5× local pty', met: f => f.ratio == null ? null : f.ratio >= 0.5 },
  cache_hit_p50_ms: { text: '≤ 20 ms', met: f => f.value == null ? null : f.value <= 20 },
  fetch_mb_per_s: { text: '≥ 1.5× scp', met: f => f.ratio == null ? null : f.ratio >= 1.5 },
  log_mb_per_s: { text: '≥ 0.9× bare pty', met: f => f.ratio == null ? null : f.ratio >= 0.9 },
  attach_echo_p50_ms: { text: '≤ 2× ssh', met: f => f.ratio == null ? null : f.ratio <= 2 },
  idle_rss_mib: { text: '≤ 100 MiB', met: f => f.value == null ? null : f.value <= 100 },
  idle_cpu_pct: { text: '≤ 1 %', met: f => f.value == null ? null : f.value <= 1 },
  announce_p99_ms_n20: { text: '(see n50)', met: () => null },
  announce_p99_ms_n50: { text: '≤ 250 ms', met: f => f.value == null ? null : f.value <= 250 },
  sandbox_job_p50_ms: { text: '≤ baseline + 250 ms', met: f => f.value == null || f.baseline == null ? null : f.value - f.baseline <= 250 }
}

function cell (v: number | null): string {
  if (v == null) return '—'
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)
}

/** the results as a Markdown table (it prints readably on a terminal and pastes into the docs) */
export function table (figures: Record<string, Figure>): string {
  const rows = [['figure', 'value', 'unit', 'baseline', 'ratio', 'n', 'goal', 'met']]
  for (const [name, f] of Object.entries(figures)) {
    const goal = GOALS[name]
    const met = goal?.met(f)
    rows.push([name, cell(f.value), f.unit, cell(f.baseline), cell(f.ratio), String(f.n), goal?.text ?? '', met == null ? '—' : met ? 'yes' : 'NO'])
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(rows[0]), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n')
}

/** the notes of the figures that have one, one line each */
export function notes (figures: Record<string, Figure>): string {
  return Object.entries(figures).filter(([, f]) => f.note != null).map(([name, f]) => `- ${name}: ${f.note}`).join('\n')
}
