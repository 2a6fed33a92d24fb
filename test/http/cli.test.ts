import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, freePort, json, killAllDaemons, startDaemon, tempHome } from '../helpers/cli.js'
import { bearer, http } from './helpers.js'

describe('cit-node start --http, init --http, token', () => {
  const temps: Array<{ cleanup: () => Promise<void> }> = []
  afterAll(async () => {
    await killAllDaemons()
    for (const t of temps) await t.cleanup()
  })

  it('start --http serves the face on the address; tokens are made, listed and revoked through the CLI', async () => {
    const t = await tempHome('cit-hc-')
    temps.push(t)
    const port = await freePort()
    const daemon = await startDaemon(t.dir, ['--http', `127.0.0.1:${port}`])
    const node = await http(port, 'GET', '/api/v1/node')
    expect(node.status).toBe(200)
    expect(node.json().mesh).toBeNull()
    expect((await http(port, 'GET', '/')).text).toContain('<!doctype html>')
    const made = json(await cli(['token', 'create', '--role', 'submit', '--expires', '2h', '--json'], { home: t.dir }))
    expect(made.expiresAt - made.createdAt).toBe(2 * 3600_000)
    const human = await cli(['token', 'create', '--role', 'read'], { home: t.dir })
    expect(human.code).toBe(0)
    expect(human.stdout.trim()).toMatch(/^citk_/)
    const r = await http(port, 'POST', '/api/v1/jobs', { body: { spec: { name: 'via-http', stages: [{ steps: [{ command: 'echo ok' }] }] } }, headers: bearer(made.token) })
    expect(r.status).toBe(201)
    expect(json(await cli(['token', 'list', '--json'], { home: t.dir }))).toHaveLength(2)
    expect((await cli(['token', 'revoke', made.id], { home: t.dir })).code).toBe(0)
    expect((await http(port, 'POST', `/api/v1/jobs/${String(r.json().id)}/rerun`, { headers: bearer(made.token) })).status).toBe(401)
    expect((await cli(['token', 'create', '--role', 'admin'], { home: t.dir })).code).toBe(2)
    expect((await cli(['token', 'create'], { home: t.dir })).code).toBe(2)
    expect((await cli(['token', 'frobnicate'], { home: t.dir })).code).toBe(2)
    await daemon.kill()
    // a bad address is refused at the edge, by its path
    const bad = await cli(['start', '--http=nowhere'], { home: t.dir, timeoutMs: 20_000 })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('http.listen')
    expect((await cli(['start', '--http', 'nowhere'], { home: t.dir, timeoutMs: 20_000 })).code).toBe(2)
  }, 90_000)

  it('init --http keeps the address in config.json and the daemon it starts serves it', async () => {
    const t = await tempHome('cit-hi-')
    temps.push(t)
    const port = await freePort()
    try {
      json(await cli(['init', '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`, '--http', `127.0.0.1:${port}`, '--json'], { home: t.dir }))
      const config = JSON.parse(await readFile(join(t.dir, 'config.json'), 'utf8'))
      expect(config.http).toEqual({ listen: `127.0.0.1:${port}` })
      const peers = await http(port, 'GET', '/api/v1/peers')
      expect(peers.status).toBe(200)
    } finally {
      await cli(['stop'], { home: t.dir, timeoutMs: 20_000 })
    }
  }, 90_000)
})
