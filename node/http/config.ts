/**
 * The `http` section of the node's config: where the HTTP face listens and the address people
 * and forges reach it under. Shared by every route module (pages, API, metrics, webhooks).
 */

/** where `--http` without an address (or `http.listen: true`) listens: loopback only */
export const DEFAULT_HTTP_LISTEN = '127.0.0.1:7777'

export interface HttpConfig {
  /** `HOST:PORT` (`[::1]:7777` for IPv6); absent = the HTTP face is off */
  listen?: string
  /** the URL this node's HTTP face is reached under, for links (commit statuses, notifications) */
  publicUrl?: string
}

export interface HostPort { host: string, port: number }

/** `HOST:PORT` or `[V6]:PORT` → its parts; undefined when malformed */
export function parseHostPort (text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text)
  if (m == null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? m[2], port }
}

/** Check `http` from config.json (or flags); problems are added with their dotted paths. */
export function validateHttpConfig (raw: unknown, problems: Array<{ path: string, message: string }>): HttpConfig {
  const out: HttpConfig = {}
  if (typeof raw !== 'object' || raw == null || Array.isArray(raw)) {
    problems.push({ path: 'http', message: 'must be an object' })
    return out
  }
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'listen') {
      // `true` switches the face on at the default address
      const text = v === true ? DEFAULT_HTTP_LISTEN : v
      if (typeof text !== 'string' || parseHostPort(text) == null) problems.push({ path: 'http.listen', message: 'must be HOST:PORT, e.g. 127.0.0.1:7777 (or true for that default)' })
      else out.listen = text
    } else if (k === 'publicUrl') {
      if (typeof v !== 'string' || !isHttpUrl(v)) problems.push({ path: 'http.publicUrl', message: 'must be an http:// or https:// URL' })
      else out.publicUrl = v.replace(/\/+$/, '')
    } else {
      problems.push({ path: `http.${k}`, message: 'unknown field' })
    }
  }
  return out
}

function isHttpUrl (text: string): boolean {
  try {
    const u = new URL(text)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === ''
  } catch {
    return false
  }
}
