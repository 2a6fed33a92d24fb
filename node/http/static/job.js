// The job page: the recording in asciinema-player once the job has ended; re-run and cancel
// when this browser's token allows.
import { api, whoami } from './common.js'

const actions = document.getElementById('actions')
const status = document.getElementById('action-status')

async function showActions () {
  const who = await whoami()
  actions.hidden = !who.submit
}

async function act (path) {
  status.textContent = '…'
  try {
    const job = await api(path, { method: 'POST' })
    status.textContent = 'done'
    location.href = `/jobs/${job.id}`
  } catch (err) {
    status.textContent = `${err.code ?? 'error'}: ${err.message}`
  }
}

if (actions) {
  const id = actions.dataset.job
  document.getElementById('rerun')?.addEventListener('click', () => act(`/api/v1/jobs/${id}/rerun`))
  document.getElementById('cancel')?.addEventListener('click', () => act(`/api/v1/jobs/${id}/cancel`))
  window.addEventListener('cit-token', showActions)
  void showActions()
}

const player = document.getElementById('player')
if (player && window.AsciinemaPlayer) {
  window.citPlayer = window.AsciinemaPlayer.create(player.dataset.cast, player, {
    cols: Number(player.dataset.cols) || 120,
    rows: Number(player.dataset.rows) || 30,
    fit: 'width',
    idleTimeLimit: 2,
    // show the end of the run at once: people come to a finished job for its result
    startAt: 0,
    preload: true
  })
  // ready once the recording is loaded and its length known (the player loads it in the background)
  window.citPlayer.addEventListener('metadata', () => { player.dataset.ready = '1' })
  const box = document.getElementById('log-box')
  if (box) box.open = false
}
