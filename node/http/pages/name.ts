import { isFinal } from '../../../protocols/job/records.js'
import { duration, html, raw } from './html.js'
import { jobDuration, jobsTable } from './mesh.js'
import type { Html } from './html.js'
import type { JobListItem } from '../../control/types.js'

/** the run of equal outcomes at the newest end of a name's history: 3 passed, 2 failed… */
export function streak (jobs: JobListItem[]): { outcome: 'passed' | 'failed', count: number } | undefined {
  const done = jobs.filter(j => isFinal(j.state) && j.state !== 'superseded' && j.state !== 'cancelled')
  if (done.length === 0) return undefined
  const passed = (j: JobListItem): boolean => j.state === 'succeeded'
  const first = passed(done[0])
  let count = 0
  for (const j of done) {
    if (passed(j) !== first) break
    count++
  }
  return { outcome: first ? 'passed' : 'failed', count }
}

/** durations of finished runs, oldest on the left, as an inline SVG bar chart */
export function durationPlot (jobs: JobListItem[], now: number): Html {
  const runs = jobs.filter(j => isFinal(j.state) && j.startedAt != null).slice().reverse()
  if (runs.length === 0) return html`<p class="muted">No finished runs to plot yet.</p>`
  const W = 600
  const H = 160
  const pad = 28
  const max = Math.max(...runs.map(j => jobDuration(j, now) ?? 0), 1)
  const bw = Math.max(2, Math.min(40, (W - pad) / runs.length - 2))
  const bars = runs.map((j, i) => {
    const d = jobDuration(j, now) ?? 0
    const h = Math.max(1, Math.round((d / max) * (H - 20)))
    const x = pad + i * (bw + 2)
    return html`<a href="/jobs/${j.id}"><rect x="${x}" y="${H - h}" width="${bw}" height="${h}" class="bar ${j.state}"><title>${j.name} ${j.build != null ? `#${j.build} ` : ''}${j.state}: ${duration(d)}</title></rect></a>`
  })
  return html`<svg id="durations" class="plot" viewBox="0 0 ${W} ${H + 4}" role="img" aria-label="run durations, oldest first" preserveAspectRatio="none">
<line x1="${pad}" y1="${H}" x2="${W}" y2="${H}" class="axis"/>
<text x="0" y="12" class="tick">${duration(max)}</text><text x="0" y="${H}" class="tick">0</text>
${bars}
</svg>${raw('')}`
}

/** `/names/NAME`: a job name's builds, its streak and its durations */
export function namePage (name: string, jobs: JobListItem[], now: number): Html {
  const s = streak(jobs)
  const finished = jobs.filter(j => isFinal(j.state) && j.startedAt != null).map(j => jobDuration(j, now) ?? 0).sort((a, b) => a - b)
  const median = finished.length > 0 ? finished[Math.floor(finished.length / 2)] : null
  return html`<h1>${name}</h1>
<p id="streak" class="${s?.outcome ?? ''}">${s == null ? 'No finished runs yet.' : html`<strong>${s.count}</strong> ${s.outcome} in a row`} · ${jobs.length} runs shown · median ${duration(median)}</p>
<h2>Durations</h2>
${durationPlot(jobs, now)}
<h2>Builds</h2>
${jobsTable(jobs, now)}`
}
