// The mesh page: members and latest jobs, refreshed from the API every few seconds.
import { api, localTimes } from './common.js'

const REFRESH_MS = 2000
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]))
const short = (s, n) => s == null ? '' : s.length > n ? `${s.slice(0, n)}…` : s
function dur (ms) {
  if (ms == null || ms < 0) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m} m ${String(Math.floor(s % 60)).padStart(2, '0')} s` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`
}
function mib (n) { return n == null ? '—' : `${(n / 1048576).toFixed(0)} MiB` }
const badge = s => `<span class="state state-${esc(s)}" data-state="${esc(s)}">${esc(s)}</span>`

function peerRows (peers) {
  return peers.map(p => `<tr data-peer="${esc(p.peerId)}"><td><code title="${esc(p.peerId)}">${esc(short(p.peerId, 16))}</code>${p.self ? ' <span class="muted">(this node)</span>' : ''}</td>
<td>${badge(p.state)}</td><td>${p.labels.map(l => `<span class="label">${esc(l)}</span> `).join('')}</td>
<td>${Number(p.load.load1).toFixed(2)} / ${esc(p.load.cores)} cores</td><td>${esc(p.load.slotsFree)} of ${esc(p.slots)}</td>
<td>${p.running.length}</td><td>${mib(p.load.memFreeBytes)}</td><td data-age="${esc(p.reportAgeMs)}">${dur(p.reportAgeMs)}</td></tr>`).join('')
}

function jobRows (jobs, cols) {
  const now = Date.now()
  return jobs.map(j => `<tr data-job="${esc(j.id)}" data-state="${esc(j.state)}"><td>${badge(j.state)}</td>
${cols.build ? `<td>${j.build != null ? `<a href="/jobs/${esc(j.id)}">#${esc(j.build)}</a>` : ''}</td>` : ''}
<td><a href="/jobs/${esc(j.id)}">${esc(j.name)}</a> <a class="muted small" href="/names/${encodeURIComponent(j.name)}">history</a></td>
<td><code title="${esc(j.executor)}">${esc(short(j.executor, 10))}</code></td>
<td><time datetime="${new Date(j.submittedAt).toISOString()}">${new Date(j.submittedAt).toISOString()}</time></td>
<td>${j.startedAt != null ? dur((j.finishedAt ?? now) - j.startedAt) : '—'}</td>
${cols.source ? `<td>${j.source ? `<code>${esc(j.source.ref)}</code> <code>${esc((j.source.commit ?? '').slice(0, 10))}</code>` : ''}</td>` : ''}</tr>`).join('')
}

function fill (section, html, table, head) {
  let body = section.querySelector('tbody')
  if (!body || section.querySelector('thead').innerHTML !== head) {
    section.innerHTML = `<div class="scroll"><table id="${table}" class="${table}"><thead>${head}</thead><tbody></tbody></table></div>`
    body = section.querySelector('tbody')
  }
  body.innerHTML = html
  localTimes(section)
}

async function refresh () {
  const mesh = document.getElementById('mesh')
  const latest = document.getElementById('latest')
  try {
    const [peers, jobs] = await Promise.all([api('/api/v1/peers'), api('/api/v1/jobs?limit=15')])
    if (peers.length > 0) fill(mesh, peerRows(peers), 'peers', '<tr><th>node</th><th>state</th><th>labels</th><th>load</th><th>slots free</th><th>running</th><th>memory free</th><th>report age</th></tr>')
    const cols = { build: jobs.jobs.some(j => j.build != null), source: jobs.jobs.some(j => j.source != null) }
    const head = `<tr><th>state</th>${cols.build ? '<th>build</th>' : ''}<th>name</th><th>node</th><th>submitted</th><th>duration</th>${cols.source ? '<th>source</th>' : ''}</tr>`
    if (jobs.jobs.length > 0) fill(latest, jobRows(jobs.jobs, cols), 'jobs', head)
    document.body.dataset.refreshed = String(Date.now())
  } catch {}
  setTimeout(refresh, REFRESH_MS)
}
setTimeout(refresh, REFRESH_MS)
