/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4): every line must be a
 * `# HELP`, a `# TYPE` or a sample of a declared family; label sets and values must be well
 * formed; a histogram's buckets must be cumulative, end in `+Inf` and agree with its `_count`.
 * Anything else throws, naming the line.
 */
export interface Sample { name: string, labels: Record<string, string>, value: number }
export interface Family { name: string, type: string, help: string, samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/
const LABEL = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"\s*(,|$)/

function parseLabels (text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {}
  let rest = text
  while (rest.trim() !== '') {
    const m = LABEL.exec(rest)
    if (m == null) throw new Error(`malformed labels in ${JSON.stringify(line)}`)
    if (m[1] in out) throw new Error(`repeated label ${m[1]} in ${JSON.stringify(line)}`)
    out[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
    rest = rest.slice(m[0].length)
  }
  return out
}

function parseValue (text: string, line: string): number {
  // Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case
  // (prom-client writes an unsampled mean as "Nan")
  if (/^\+?inf$/i.test(text)) return Infinity
  if (/^-inf$/i.test(text)) return -Infinity
  if (/^nan$/i.test(text)) return NaN
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`malformed value in ${JSON.stringify(line)}`)
  return Number(text)
}

export function parseExposition (text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count', '_total', '_created']) {
      if (suffix !== '' && !sample.endsWith(suffix)) continue
      const f = families.get(sample.slice(0, sample.length - suffix.length))
      if (f != null && (suffix === '' || ['histogram', 'summary'].includes(f.type) || (suffix === '_total' && f.type === 'counter'))) return f
    }
    return undefined
  }
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline')
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
    if (meta != null) {
      if (!NAME.test(meta[2])) throw new Error(`bad metric name in ${JSON.stringify(line)}`)
      const f = families.get(meta[2]) ?? { name: meta[2], type: 'untyped', help: '', samples: [] }
      if (meta[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3])) throw new Error(`unknown type in ${JSON.stringify(line)}`)
        if (f.samples.length > 0) throw new Error(`TYPE after samples: ${JSON.stringify(line)}`)
        f.type = meta[3]
      } else {
        f.help = meta[3]
      }
      families.set(meta[2], f)
      continue
    }
    if (line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    if (m == null) throw new Error(`malformed sample line ${JSON.stringify(line)}`)
    const f = familyOf(m[1])
    if (f == null) throw new Error(`sample of an undeclared family: ${JSON.stringify(line)}`)
    f.samples.push({ name: m[1], labels: m[3] != null ? parseLabels(m[3], line) : {}, value: parseValue(m[4], line) })
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

function checkHistogram (f: Family): void {
  const series = new Map<string, Sample[]>()
  for (const s of f.samples.filter(s => s.name === `${f.name}_bucket`)) {
    const { le, ...rest } = s.labels
    if (le == null) throw new Error(`${f.name}_bucket without le`)
    const key = JSON.stringify(rest)
    series.set(key, [...(series.get(key) ?? []), s])
  }
  for (const [key, buckets] of series) {
    let last = 0
    for (const b of buckets) {
      if (b.value < last) throw new Error(`${f.name}: buckets not cumulative for ${key}`)
      last = b.value
    }
    if (buckets.at(-1)?.labels.le !== '+Inf') throw new Error(`${f.name}: no +Inf bucket for ${key}`)
    const count = f.samples.find(s => s.name === `${f.name}_count` && JSON.stringify(s.labels) === key)
    if (count == null || count.value !== last) throw new Error(`${f.name}: _count disagrees with the +Inf bucket for ${key}`)
  }
}

/** the value of one sample: the family's sample with these labels (for a histogram, its _count) */
export function valueOf (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(name)
  if (f == null) return undefined
  const want = f.type === 'histogram' ? `${name}_count` : f.type === 'counter' && !f.samples.some(s => s.name === name) ? `${name}_total` : name
  const matching = f.samples.filter(s => s.name === want && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (matching.length === 0) return undefined
  return matching.reduce((n, s) => n + s.value, 0)
}
