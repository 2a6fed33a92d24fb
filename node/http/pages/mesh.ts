import { JOB_STATES } from '../../../protocols/job/records.js'
import { bytes, duration, html, shortId, stateBadge, time } from './html.js'
import type { Html } from './html.js'
import type { JobListItem, JobPage, JobQuery } from '../../control/types.js'
import type { PeerView } from '../../mesh/peer-table.js'

/** how long a job took, or has been running */
export function jobDuration (j: Pick<JobListItem, 'startedAt' | 'finishedAt'>, now: number): number | null {
  if (j.startedAt == null) return null
  return (j.finishedAt ?? now) - j.startedAt
}

/** the members table (the mesh page's script re-renders its rows from /api/v1/peers) */
export function peersTable (peers: PeerView[]): Html {
  if (peers.length === 0) return html`<p class="muted" id="peers-empty">This node is not in a mesh: it runs jobs on its own.</p>`
  return html`<div class="scroll"><table id="peers" class="peers">
<thead><tr><th>node</th><th>state</th><th>labels</th><th>load</th><th>slots free</th><th>running</th><th>memory free</th><th>report age</th></tr></thead>
<tbody>${peers.map(peerRow)}</tbody></table></div>`
}

export function peerRow (p: PeerView): Html {
  return html`<tr data-peer="${p.peerId}">
<td><code title="${p.peerId}">${shortId(p.peerId, 16)}</code>${p.self ? html` <span class="muted">(this node)</span>` : ''}</td>
<td>${stateBadge(p.state)}</td>
<td>${p.labels.map(l => html`<span class="label">${l}</span> `)}</td>
<td>${p.load.load1.toFixed(2)} / ${p.load.cores} cores</td>
<td>${p.load.slotsFree} of ${p.slots}</td>
<td>${p.running.length}</td>
<td>${bytes(p.load.memFreeBytes)}</td>
<td data-age="${p.reportAgeMs}">${duration(p.reportAgeMs)}</td>
</tr>`
}

/** jobs newest first: state, build, name, node, duration, commit and branch when a trigger made them */
export function jobsTable (jobs: JobListItem[], now: number): Html {
  if (jobs.length === 0) return html`<p class="muted" id="jobs-empty">No jobs yet.</p>`
  // build numbers and sources only where some job has them: no empty columns
  const cols = { build: jobs.some(j => j.build != null), source: jobs.some(j => j.source != null) }
  return html`<div class="scroll"><table id="jobs" class="jobs">
<thead><tr><th>state</th>${cols.build ? html`<th>build</th>` : ''}<th>name</th><th>node</th><th>submitted</th><th>duration</th>${cols.source ? html`<th>source</th>` : ''}</tr></thead>
<tbody>${jobs.map(j => jobRow(j, now, cols))}</tbody></table></div>`
}

export function jobRow (j: JobListItem, now: number, cols: { build: boolean, source: boolean }): Html {
  return html`<tr data-job="${j.id}" data-state="${j.state}">
<td>${stateBadge(j.state)}</td>
${cols.build ? html`<td>${j.build != null ? html`<a href="/jobs/${j.id}">#${j.build}</a>` : ''}</td>` : ''}
<td><a href="/jobs/${j.id}">${j.name}</a> <a class="muted small" href="/names/${encodeURIComponent(j.name)}" title="history of ${j.name}">history</a></td>
<td><code title="${j.executor ?? ''}">${j.executor != null ? shortId(j.executor, 10) : ''}</code></td>
<td>${time(j.submittedAt)}</td>
<td>${duration(jobDuration(j, now))}</td>
${cols.source ? html`<td>${j.source != null ? html`<code>${j.source.ref ?? ''}</code> <code>${(j.source.commit ?? '').slice(0, 10)}</code>` : ''}</td>` : ''}
</tr>`
}

/** `/`: the mesh and the latest jobs */
export function meshPage (peers: PeerView[], jobs: JobListItem[], now: number): Html {
  return html`<h1>Mesh</h1>
<section id="mesh" data-live="/api/v1/peers">${peersTable(peers)}</section>
<h2>Latest jobs <a class="small" href="/jobs">all jobs</a></h2>
<section id="latest" data-live="/api/v1/jobs?limit=15">${jobsTable(jobs, now)}</section>`
}

/** `/jobs`: the jobs with filters and paging */
export function jobsPage (page: JobPage, q: JobQuery, now: number): Html {
  const selected = new Set(q.state ?? [])
  const params = new URLSearchParams()
  for (const s of q.state ?? []) params.append('state', s)
  for (const k of ['name', 'repo', 'node'] as const) if (q[k] != null) params.set(k, q[k]!)
  if (page.next != null) params.set('cursor', page.next)
  return html`<h1>Jobs</h1>
<form class="filters" method="get" action="/jobs">
  <label>state <select name="state" multiple size="1">${JOB_STATES.map(s => html`<option value="${s}" ${selected.has(s) ? 'selected' : ''}>${s}</option>`)}</select></label>
  <label>name <input name="name" value="${q.name ?? ''}"></label>
  <label>repo <input name="repo" value="${q.repo ?? ''}"></label>
  <label>node <input name="node" value="${q.node ?? ''}" placeholder="peer id"></label>
  <button type="submit">filter</button> <a href="/jobs">clear</a>
</form>
<section id="list">${jobsTable(page.jobs, now)}</section>
${page.next != null ? html`<p><a id="older" href="/jobs?${params.toString()}">older jobs →</a></p>` : ''}`
}
