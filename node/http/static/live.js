// A running job's terminal: xterm.js fed by the daemon's websocket (output as binary messages,
// events as JSON text messages), wherever in the mesh the job runs.
import { Terminal } from '/assets/xterm/xterm.mjs'
import { localTimes } from './common.js'

const el = document.getElementById('terminal')
const status = document.getElementById('live-status')
if (el) {
  const term = new Terminal({ cols: Number(el.dataset.cols) || 120, rows: Number(el.dataset.rows) || 30, convertEol: false, disableStdin: true, scrollback: 5000 })
  term.open(el)
  window.citTerminal = term
  // the server's text snapshot is for readers without JavaScript: the terminal replaces it
  const box = document.getElementById('log-box')
  if (box) box.open = false
  let received = 0
  const url = new URL(el.dataset.live, location.href)
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  const ws = new WebSocket(url)
  ws.binaryType = 'arraybuffer'
  ws.onopen = () => { status.textContent = 'live' }
  ws.onmessage = m => {
    if (typeof m.data !== 'string') {
      received += m.data.byteLength
      el.dataset.received = String(received)
      term.write(new Uint8Array(m.data))
      return
    }
    const msg = JSON.parse(m.data)
    if (msg.type === 'event') addEvent(msg.event)
    if (msg.type === 'error') { status.textContent = msg.message; el.dataset.error = msg.code }
    if (msg.type === 'end') {
      status.textContent = `the job ended: ${msg.job?.state ?? ''}; loading its recording…`
      el.dataset.ended = msg.job?.state ?? 'ended'
      setTimeout(() => location.reload(), 1500)
    }
  }
  ws.onclose = e => { if (!el.dataset.ended && !el.dataset.error) status.textContent = `disconnected (${e.code})` }
}

function addEvent (ev) {
  const body = document.querySelector('#events tbody')
  if (body) {
    const tr = document.createElement('tr')
    tr.dataset.event = ev.type
    const at = new Date(ev.at).toISOString()
    for (const text of [null, ev.type + (ev.state && ev.state !== ev.type ? ` → ${ev.state}` : ''), ev.node.slice(0, 12) + '…', '', ev.reason ?? '']) {
      const td = document.createElement('td')
      if (text === null) { const t = document.createElement('time'); t.setAttribute('datetime', at); t.textContent = at; td.append(t) } else td.textContent = text
      tr.append(td)
    }
    body.append(tr)
    localTimes(tr)
  }
  if (ev.state) {
    const s = document.getElementById('job-state')
    if (s) s.textContent = ev.state
  }
}
