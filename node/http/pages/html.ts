/**
 * Server-side HTML: a tagged template that escapes every interpolated value unless it is
 * already `Html` (the output of another template or `raw`). Pages are plain strings; no build step.
 */

/** HTML that is safe to insert as is */
export class Html {
  constructor (readonly text: string) {}
  toString (): string { return this.text }
}

export function escapeHtml (value: unknown): string {
  return String(value).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!))
}

function render (value: unknown): string {
  if (value == null || value === false) return ''
  if (value instanceof Html) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(value)
}

/** html`<p>${text}</p>`: values are escaped, arrays joined, null/false/undefined left out */
export function html (strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]
  return new Html(out)
}

/** trusted markup (built here, never from input) */
export function raw (text: string): Html {
  return new Html(text)
}

export const shortId = (id: string | null | undefined, n = 12): string => id == null ? '—' : id.length > n ? `${id.slice(0, n)}…` : id

/** 1.2 s, 3 m 04 s, 2 h 05 m */
export function duration (ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} m ${String(Math.floor(s % 60)).padStart(2, '0')} s`
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`
}

export function bytes (n: number | null | undefined): string {
  if (n == null) return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

/** a time as UTC text, machine-readable in `datetime` (the page's script shows it in local time) */
export function time (ms: number | null | undefined): Html {
  if (ms == null || ms <= 0) return raw('—')
  const iso = new Date(ms).toISOString()
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>`
}

export function stateBadge (state: string): Html {
  return html`<span class="state state-${state}" data-state="${state}">${state}</span>`
}
