import { isFinal } from '../../../protocols/job/records.js'
import { bytes, duration, html, raw, shortId, stateBadge, time } from './html.js'
import type { Html } from './html.js'
import type { CastSummary, StepRecord } from '../cast.js'
import type { JobView } from '../../jobs/types.js'
import type { JobSpec } from '../../../protocols/job/types.js'
import type { PeerView } from '../../mesh/peer-table.js'

/** what the job page shows besides the job itself */
export interface JobPageData {
  job: JobView
  spec: JobSpec | undefined
  /** the recording's steps, once the job has ended and the recording could be read */
  cast: CastSummary | undefined
  /** why the steps or the log could not be shown (the holder is gone…) */
  problem: string | undefined
  /** the executor as the peer table knows it */
  executor: PeerView | undefined
  /** the output as text (the end of it, bounded) */
  text: string | undefined
  textTruncated: boolean
  build?: number
  source?: { repo?: string, commit?: string, ref?: string }
  now: number
}

/** `/jobs/ID`: facts, steps, events, terminal or recording, artefacts, actions */
export function jobPage (d: JobPageData): Html {
  const { job } = d
  const final = isFinal(job.state)
  const running = job.state === 'running' || job.state === 'claimed'
  const gone = running && d.executor != null && (d.executor.state === 'unreachable' || d.executor.state === 'gone')
  return html`<h1><a href="/names/${encodeURIComponent(job.name)}">${job.name}</a>${d.build != null ? html` <span class="muted">#${d.build}</span>` : ''} ${stateBadge(job.state)}</h1>
<p class="muted"><code id="job-id">${job.id}</code></p>
${gone ? html`<p class="banner warn" id="node-gone">The node running this job, <code>${job.executor}</code>, is ${d.executor!.state} (its last report is ${duration(d.executor!.reportAgeMs)} old): its live output cannot be shown. The job is taken over when its lease expires.</p>` : ''}
${d.problem != null ? html`<p class="banner warn" id="problem">${d.problem}</p>` : ''}
<div id="actions" class="actions" hidden data-job="${job.id}" data-final="${final ? '1' : '0'}">
  <button id="rerun" type="button">re-run</button>
  ${final ? '' : html`<button id="cancel" type="button">cancel</button>`}
  <span id="action-status" role="status"></span>
</div>
${facts(d)}
<h2>Steps</h2>
${steps(d)}
<h2>Terminal</h2>
${terminal(d, running && !gone, final)}
<h2>Artefacts</h2>
${artefacts(job)}
<h2>Events</h2>
${events(job)}`
}

function facts (d: JobPageData): Html {
  const { job } = d
  const wall = job.usage?.wallMs
  return html`<dl class="facts">
<dt>state</dt><dd id="job-state">${job.state}${job.reason != null ? html` — <span id="job-reason">${job.reason}</span>` : ''}</dd>
<dt>node</dt><dd><code title="${job.executor ?? ''}">${job.executor ?? '—'}</code>${d.executor != null ? html` (${d.executor.state})` : ''}</dd>
<dt>submitter</dt><dd><code>${job.submitter}</code></dd>
<dt>submitted</dt><dd>${time(job.submittedAt)}</dd>
<dt>duration</dt><dd>${duration(wall)}</dd>
<dt>exit code</dt><dd id="exit-code">${job.exitCode ?? '—'}</dd>
<dt>priority</dt><dd>${job.priority}</dd>
${job.cacheHit ? html`<dt>cache</dt><dd>result reused from <a href="/jobs/${job.cachedFrom ?? ''}">${shortId(job.cachedFrom)}</a></dd>` : ''}
${d.source != null ? html`<dt>source</dt><dd>${d.source.repo ?? ''} <code>${d.source.ref ?? ''}</code> <code>${d.source.commit ?? ''}</code></dd>` : ''}
${Object.keys(job.params).length > 0 ? html`<dt>params</dt><dd>${Object.entries(job.params).map(([k, v]) => html`<code>${k}=${v}</code> `)}</dd>` : ''}
${job.usage != null ? html`<dt>usage</dt><dd>${duration(job.usage.cpuMs)} CPU, ${bytes(job.usage.maxRssBytes)} peak memory</dd>` : ''}
</dl>`
}

function steps (d: JobPageData): Html {
  if (d.cast != null && d.cast.steps.length > 0) {
    return html`<div class="scroll"><table id="steps" class="steps"><thead><tr><th>stage</th><th>step</th><th>started</th><th>took</th><th>exit</th></tr></thead><tbody>
${d.cast.steps.map(stepRow)}</tbody></table></div>`
  }
  if (d.spec == null) return html`<p class="muted">—</p>`
  // before the recording exists: the plan, from the job file
  return html`<div class="scroll"><table id="steps" class="steps plan"><thead><tr><th>stage</th><th>step</th><th colspan="3">times and exit codes are shown once the job has ended</th></tr></thead><tbody>
${d.spec.stages.flatMap(st => st.steps.map(s => html`<tr><td>${st.title}</td><td>${s.title}</td><td colspan="3"></td></tr>`))}</tbody></table></div>`
}

function stepRow (s: StepRecord): Html {
  const ok = s.exitCode === 0
  return html`<tr class="${s.hook ? 'hook' : ''}" data-exit="${s.exitCode ?? ''}">
<td>${s.stage ?? 'job'}</td><td>${s.title}</td><td>${time(s.startedAt)}</td>
<td>${duration(s.endedAt != null ? s.endedAt - s.startedAt : null)}</td>
<td class="${ok ? 'ok' : s.exitCode == null ? '' : 'bad'}">${s.exitCode ?? (s.endedAt != null ? 'stopped' : '—')}</td></tr>`
}

function terminal (d: JobPageData, live: boolean, final: boolean): Html {
  const { job } = d
  const text = d.text != null
    ? html`<details id="log-box" open><summary>output as text${d.textTruncated ? ' (the end of it)' : ''} · <a href="/api/v1/jobs/${job.id}/log.txt">whole log</a></summary><pre id="log-text">${d.text}</pre></details>`
    : ''
  if (live) {
    return html`<div id="terminal" class="terminal" data-live="/api/v1/jobs/${job.id}/live" data-cols="${d.cast?.width ?? 120}" data-rows="${d.cast?.height ?? 30}"></div>
<p class="muted small" id="live-status" role="status">the output appears here live (needs JavaScript; the text below is a snapshot)</p>${text}`
  }
  if (final && job.log != null) {
    return html`<div id="player" class="player" data-cast="/api/v1/jobs/${job.id}/log" data-cols="${d.cast?.width ?? 120}" data-rows="${d.cast?.height ?? 30}"></div>
<p class="small"><a href="/api/v1/jobs/${job.id}/log" download="${job.id.slice(0, 12)}.cast">recording (asciicast)</a></p>${text}`
  }
  return html`<p class="muted" id="no-terminal">${job.state === 'queued' ? 'The job has not started yet.' : 'No output.'}</p>${text}`
}

function artefacts (job: JobView): Html {
  if (job.artefacts.length === 0) return html`<p class="muted">None.</p>`
  return html`<div class="scroll"><table id="artefacts"><thead><tr><th>path</th><th>size</th><th>sha256</th></tr></thead><tbody>
${job.artefacts.map(a => html`<tr><td><a class="artefact" href="/api/v1/jobs/${job.id}/artefacts/${a.path.split('/').map(encodeURIComponent).join('/')}" download data-sha256="${a.sha256}">${a.path}</a></td><td>${bytes(a.size)}</td><td><code class="hash" title="${a.sha256}">${a.sha256}</code></td></tr>`)}
</tbody></table></div>`
}

function events (job: JobView): Html {
  return html`<div class="scroll"><table id="events"><thead><tr><th>when</th><th>event</th><th>node</th><th>signed by</th><th>reason</th></tr></thead><tbody>
${job.events.map(e => html`<tr data-event="${e.type}"><td>${time(e.at)}</td><td>${e.type}${e.state != null && e.state !== e.type ? raw(' → ') : ''}${e.state != null && e.state !== e.type ? e.state : ''}</td><td><code title="${e.node}">${shortId(e.node, 12)}</code></td><td><code title="${e.by}">${shortId(e.by, 12)}</code></td><td>${e.reason ?? ''}</td></tr>`)}
</tbody></table></div>`
}
