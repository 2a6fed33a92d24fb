import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MetaStore } from '../../store/meta/index.js'
import { TokenStore } from '../../node/http/tokens.js'
import { parseRange } from '../../node/http/send-blob.js'
import { checkArtefactPath } from '../../node/http/routes/api-files.js'
import { plainText, summarizeCast } from '../../node/http/cast.js'
import { isLoopbackAddress } from '../../node/http/auth.js'
import { validateHttpConfig, parseHostPort } from '../../node/http/config.js'
import { openApiDocument, renderApiMarkdown } from '../../node/http/api-doc.js'
import { withHttpDefault } from '../../cli/http-flag.js'
import { streak } from '../../node/http/pages/name.js'
import { html, raw } from '../../node/http/pages/html.js'
import { ROOT, tempHome } from '../helpers/cli.js'

async function * chunks (...texts: string[]): AsyncGenerator<Uint8Array> {
  for (const t of texts) yield Buffer.from(t)
}

describe('bearer tokens', () => {
  let meta: MetaStore
  let cleanup: () => Promise<void>
  let now = 1_000_000
  const tokens = (self = 'node-a'): TokenStore => new TokenStore({ meta, self, now: () => now })
  beforeEach(async () => {
    const t = await tempHome('cit-tok-')
    cleanup = t.cleanup
    meta = new MetaStore({}, { path: join(t.dir, 'db') })
    await meta.start()
  })
  afterEach(async () => { await meta.stop(); await cleanup() })

  it('checks a token it made, stores only a hash, and refuses wrong, revoked, expired and other nodes\' tokens', async () => {
    const t = await tokens().create({ role: 'submit', ttlMs: 60_000 })
    expect(t.token).toMatch(/^citk_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/)
    expect((await tokens().check(t.token))?.role).toBe('submit')
    // citk_<12 hex>_<secret>: the secret is base64url and may itself hold '_'
    const secret = t.token.slice('citk_'.length + 12 + 1)
    expect(secret).toHaveLength(32)
    let stored = ''
    for await (const [, v] of meta.table('http-tokens').entries()) stored += JSON.stringify(v)
    expect(stored).not.toContain(secret)
    expect(await tokens().check(t.token.slice(0, -1) + (t.token.endsWith('A') ? 'B' : 'A'))).toBeUndefined()
    expect(await tokens('node-b').check(t.token)).toBeUndefined()
    expect(await tokens().check('')).toBeUndefined()
    expect(await tokens().check(`Bearer ${t.token}`)).toBeUndefined()
    now += 60_001
    expect(await tokens().check(t.token)).toBeUndefined()
    expect((await tokens().list())[0].state).toBe('expired')
    const r = await tokens().create({ role: 'read' })
    expect(r.expiresAt).toBeNull()
    await tokens().revoke(r.id)
    expect(await tokens().check(r.token)).toBeUndefined()
    expect((await tokens().list()).find(x => x.id === r.id)?.state).toBe('revoked')
    await tokens().revoke(r.id, { purge: true })
    expect((await tokens().list()).map(x => x.id)).not.toContain(r.id)
  })

  it('refuses bad roles, lifetimes and unknown ids by code', async () => {
    await expect(tokens().create({ role: 'admin' })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' })
    await expect(tokens().create({ role: 'read', ttlMs: 5 })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' })
    await expect(tokens().revoke('nope')).rejects.toMatchObject({ code: 'ERR_TOKEN_NOT_FOUND' })
  })
})

describe('request parts', () => {
  it('reads Range headers as RFC 9110 says', () => {
    expect(parseRange(undefined, 10)).toBeUndefined()
    expect(parseRange('bytes=0-0', 10)).toEqual({ start: 0, end: 1 })
    expect(parseRange('bytes=2-', 10)).toEqual({ start: 2, end: 10 })
    expect(parseRange('bytes=-4', 10)).toEqual({ start: 6, end: 10 })
    expect(parseRange('bytes=-40', 10)).toEqual({ start: 0, end: 10 })
    expect(parseRange('bytes=5-400', 10)).toEqual({ start: 5, end: 10 })
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable')
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable')
    // ignored (served whole): other units, several ranges, nonsense, an inverted range
    for (const h of ['items=0-1', 'bytes=0-1,3-4', 'bytes=a-b', 'bytes=5-2', 'bytes=-']) expect(parseRange(h, 10), h).toBeUndefined()
  })

  it('refuses artefact paths that could leave the manifest\'s names', () => {
    expect(checkArtefactPath('dist/app.tar.gz')).toBe('dist/app.tar.gz')
    for (const p of ['', '/etc/passwd', '../x', 'a/../../b', 'a/./b', 'a//b', 'a\\b', 'a\u0000b', 'x'.repeat(2000)]) {
      expect(() => checkArtefactPath(p), JSON.stringify(p)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_PATH' }))
    }
  })

  it('knows loopback addresses and config values', () => {
    for (const a of ['127.0.0.1', '127.5.6.7', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true)
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '0.0.0.0', 'localhost', undefined]) expect(isLoopbackAddress(a), String(a)).toBe(false)
    expect(parseHostPort('[::1]:7777')).toEqual({ host: '::1', port: 7777 })
    expect(parseHostPort('127.0.0.1:99999')).toBeUndefined()
    const problems: Array<{ path: string, message: string }> = []
    expect(validateHttpConfig({ listen: true, publicUrl: 'https://ci.example.org/' }, problems)).toEqual({ listen: '127.0.0.1:7777', publicUrl: 'https://ci.example.org' })
    validateHttpConfig({ listen: '7777', publicUrl: 'ftp://x', other: 1 }, problems)
    expect(problems.map(p => p.path)).toEqual(['http.listen', 'http.publicUrl', 'http.other'])
  })

  it('--http alone means the default address; with HOST:PORT, that address', () => {
    expect(withHttpDefault(['--http'])).toEqual(['--http=127.0.0.1:7777'])
    expect(withHttpDefault(['--http', '0.0.0.0:8080', '--label', 'x'])).toEqual(['--http', '0.0.0.0:8080', '--label', 'x'])
    expect(withHttpDefault(['--http', 'eyJtb2tlbiI6MX0'])).toEqual(['--http=127.0.0.1:7777', 'eyJtb2tlbiI6MX0'])
    expect(withHttpDefault(['--http', '--label', 'x'])).toEqual(['--http=127.0.0.1:7777', '--label', 'x'])
  })
})

describe('recordings and pages', () => {
  it('reads steps, exit codes and the end of the output from an asciicast', async () => {
    const lines = [
      JSON.stringify({ version: 2, width: 100, height: 30, timestamp: 1000 }),
      JSON.stringify([0.1, 'm', 'job: onStart']), JSON.stringify([0.2, 'o', 'start\r\n']), JSON.stringify([0.3, 'm', 'exit 0']),
      JSON.stringify([0.4, 'm', 'stage: build / step: make']), JSON.stringify([0.5, 'o', '\u001b[31mred\u001b[0m\r\n']), JSON.stringify([1.4, 'm', 'exit 2']),
      JSON.stringify([1.5, 'm', 'stage: build / onFailure']), JSON.stringify([1.6, 'm', 'exit -']),
      JSON.stringify([1.7, 'm', 'cit: failed: step "make" of stage "build" exited with 2'])
    ]
    const cast = await summarizeCast(chunks(lines.join('\n') + '\n'), { tail: 1000, startedAt: 1_000_250 })
    expect(cast.startedAt).toBe(1_000_250)
    expect(cast.steps.map(s => [s.stage, s.title, s.hook, s.exitCode, s.endedAt! - s.startedAt])).toEqual([
      [null, 'onStart', true, 0, 200], ['build', 'make', false, 2, 1000], ['build', 'onFailure', true, null, 100]
    ])
    expect(cast.outcome).toMatch(/^failed/)
    let text = ''
    for await (const t of plainText([cast.output])) text += t
    expect(text).toBe('start\nred\n')
    const short = await summarizeCast(chunks(lines.join('\n') + '\n'), { tail: 5 })
    expect(short.truncated).toBe(true)
    expect(short.output.length).toBeLessThanOrEqual(5)
  })

  it('plain text drops escapes and keeps what a carriage return leaves, across chunk boundaries', async () => {
    let text = ''
    for await (const t of plainText(['a\u001b[1', 'mb\r\n', 'progress 10%\rprogress 100%\r\n\u001b]0;title\u0007done'])) text += t
    expect(text).toBe('ab\nprogress 100%\ndone\n')
  })

  it('escapes every value in pages; counts a streak from the newest run', () => {
    expect(html`<p>${'<script>"x"</script>'}</p>${raw('<br>')}`.text).toBe('<p>&lt;script&gt;&quot;x&quot;&lt;/script&gt;</p><br>')
    const job = (state: string): any => ({ state })
    expect(streak([job('failed'), job('failed'), job('succeeded')])).toEqual({ outcome: 'failed', count: 2 })
    expect(streak([job('running'), job('succeeded'), job('cancelled'), job('succeeded'), job('failed')])).toEqual({ outcome: 'passed', count: 2 })
    expect(streak([job('queued')])).toBeUndefined()
  })

  it('docs/api.md is the OpenAPI document of the routes, rendered', async () => {
    const doc = await openApiDocument()
    const page = await readFile(join(ROOT, 'docs', 'api.md'), 'utf8')
    expect(page, 'docs/api.md is stale: run `npm run docs:api`').toBe(renderApiMarkdown(doc))
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(item)) expect(page).toContain(`### \`${method.toUpperCase()} ${path}\``)
    }
    expect(page).toContain('### `GET /api/v1/jobs/{id}/live` (websocket)')
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Job', 'JobPage', 'Peer', 'Error', 'Event', 'Artefact']))
  })
})
