import { DEFAULT_HTTP_LISTEN, parseHostPort } from '../node/http/config.js'

/**
 * `--http` may stand alone (the HTTP face on DEFAULT_HTTP_LISTEN) or take `HOST:PORT`. The
 * argument parser wants a value, so a bare `--http` becomes `--http=127.0.0.1:7777`; the next
 * argument is its value only when it looks like `HOST:PORT` (a join token never does).
 */
export function withHttpDefault (argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') { out.push(...argv.slice(i)); break }
    if (a === '--http' && (i + 1 >= argv.length || parseHostPort(argv[i + 1]) == null)) out.push(`--http=${DEFAULT_HTTP_LISTEN}`)
    else out.push(a)
  }
  return out
}
