// Shared by every page: the bearer token (kept in this browser), API calls, local times.
const KEY = 'cit_token'

/** the token this browser keeps for this daemon, or null */
export function token () {
  try { return localStorage.getItem(KEY) } catch { return null }
}

function keep (value) {
  try {
    if (value) localStorage.setItem(KEY, value)
    else localStorage.removeItem(KEY)
  } catch {}
  // reads from another machine take the token from a cookie too (writes never do)
  document.cookie = value
    ? `cit_token=${encodeURIComponent(value)}; path=/; SameSite=Strict`
    : 'cit_token=; path=/; SameSite=Strict; max-age=0'
}

/** fetch an API path with the token; rejects with {code, message} on an error reply */
export async function api (path, options = {}) {
  const headers = { accept: 'application/json', ...(options.body != null ? { 'content-type': 'application/json' } : {}) }
  const t = token()
  if (t) headers.authorization = `Bearer ${t}`
  const res = await fetch(path, { method: options.method ?? 'GET', headers, body: options.body != null ? JSON.stringify(options.body) : undefined })
  const body = await res.json().catch(() => ({}))
  if (!res.ok) throw Object.assign(new Error(body.message ?? res.statusText), { code: body.code, status: res.status })
  return body
}

/** what this browser may do here: {read, submit, role} */
export async function whoami () {
  try { return await api('/api/v1/whoami') } catch { return { read: false, submit: false, role: null } }
}

export function localTimes (root = document) {
  for (const el of root.querySelectorAll('time[datetime]')) {
    const d = new Date(el.getAttribute('datetime'))
    if (!Number.isNaN(d.getTime())) { el.title = el.textContent; el.textContent = d.toLocaleString() }
  }
}

async function showStatus () {
  const s = document.getElementById('token-status')
  if (!s) return
  const who = await whoami()
  s.textContent = who.role ? `token: ${who.role}${who.expiresAt ? `, until ${new Date(who.expiresAt).toLocaleDateString()}` : ''}` : token() ? 'token not valid here' : ''
}

function setup () {
  localTimes()
  const form = document.getElementById('token-form')
  if (form && !form.dataset.ready) {
    form.dataset.ready = '1'
    form.addEventListener('submit', e => {
      e.preventDefault()
      keep(document.getElementById('token-input').value.trim())
      document.getElementById('token-input').value = ''
      void showStatus()
      window.dispatchEvent(new Event('cit-token'))
    })
    document.getElementById('token-clear')?.addEventListener('click', () => {
      keep(null)
      void showStatus()
      window.dispatchEvent(new Event('cit-token'))
    })
    void showStatus()
  }
}
setup()
