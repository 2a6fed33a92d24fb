import { createServer } from 'node:net'
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, freePort, json, killAllDaemons, startDaemon, tempHome } from '../helpers/cli.js'
import { isAlive, readLivePid } from '../../node/pidfile.js'
import type { Server } from 'node:net'

/** a port held by another program for the test's duration */
async function occupy (port: number): Promise<Server> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { resolve(server) })
  })
}

const listenOn = (port: number): string[] => ['--listen', `/ip4/127.0.0.1/tcp/${port}`]
const errorOf = (stderr: string): { code: string, message: string } => JSON.parse(stderr.trim().split('\n')[0]).error

describe('a failed init or join: the real cause in one line, and the home as it was', () => {
  const temps: Array<{ dir: string, cleanup: () => Promise<void> }> = []
  const servers: Server[] = []
  const homes: string[] = []

  afterAll(async () => {
    await killAllDaemons()
    for (const h of homes) {
      const pid = await readLivePid(join(h, 'daemon.pid'))
      await cli(['stop'], { home: h, timeoutMs: 20_000 })
      if (pid != null && isAlive(pid)) process.kill(pid, 'SIGKILL')
    }
    for (const s of servers) s.close()
    for (const t of temps) await t.cleanup()
  })

  const scratch = async (): Promise<string> => { const t = await tempHome(); temps.push(t); return t.dir }

  it('init on a taken port names the address and a free --listen; the home is left as it was; a retry works', async () => {
    const port = await freePort()
    servers.push(await occupy(port))
    const parent = await scratch()
    const fresh = join(parent, 'fresh')
    const r = await cli(['init', ...listenOn(port)], { home: fresh })
    expect(r.code).toBe(3)
    const lines = r.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(r.stderr).not.toMatch(/^\s+at /m)
    expect(r.stderr).toContain(`/ip4/127.0.0.1/tcp/${port}`)
    expect(r.stderr).toMatch(/--listen \/ip4\/127\.0\.0\.1\/tcp\/\d+/)
    // the home did not exist: it still does not
    await expect(readdir(fresh)).rejects.toMatchObject({ code: 'ENOENT' })

    const j = await cli(['init', ...listenOn(port), '--json'], { home: fresh })
    expect(j.code).toBe(3)
    expect(errorOf(j.stderr).code).toBe('ERR_ADDRESS_IN_USE')

    // a home that held something keeps exactly that
    const kept = join(parent, 'kept')
    await mkdir(kept, { mode: 0o700 })
    await writeFile(join(kept, 'config.json'), '{"slots":1}\n', { mode: 0o640 })
    expect((await cli(['init', ...listenOn(port), '--label', 'x'], { home: kept })).code).toBe(3)
    expect(await readdir(kept)).toEqual(['config.json'])
    expect(await readFile(join(kept, 'config.json'), 'utf8')).toBe('{"slots":1}\n')
    expect((await stat(join(kept, 'config.json'))).mode & 0o777).toBe(0o640)

    // the fix the message gives works: not "already a member"
    const free = await freePort()
    const ok = await cli(['init', ...listenOn(free), '--json'], { home: kept })
    homes.push(kept)
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout).token).toBeTypeOf('string')
    expect(JSON.parse(await readFile(join(kept, 'config.json'), 'utf8')).slots).toBe(1)
  }, 180_000)

  it('start of a member whose port is taken: one line with the fix, no stack; start with --listen recovers', async () => {
    const home = join(await scratch(), 'member')
    const port = await freePort()
    json(await cli(['init', ...listenOn(port), '--json'], { home }))
    homes.push(home)
    expect((await cli(['stop'], { home })).code).toBe(0)
    servers.push(await occupy(port))
    const r = await cli(['start'], { home, timeoutMs: 30_000 })
    expect(r.code).toBe(3)
    expect(r.stderr).not.toMatch(/^\s+at /m)
    expect(r.stderr).not.toContain('internal error')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    const j = await cli(['start', '--json'], { home, timeoutMs: 30_000 })
    expect(errorOf(j.stderr).code).toBe('ERR_ADDRESS_IN_USE')
    // leave names the way out: there is no daemon to ask
    const leave = await cli(['leave', '--json'], { home })
    expect(leave.code).toBe(3)
    expect(errorOf(leave.stderr).code).toBe('ERR_DAEMON_UNREACHABLE')
    expect(errorOf(leave.stderr).message).toContain('start -d')
    // the fix the message names brings the member back
    const d = await startDaemon(home, listenOn(await freePort()))
    expect(json(await cli(['status', '--json'], { home })).mesh).toMatch(/^[0-9a-f]+$/)
    await d.kill()
  }, 180_000)

  it('join that cannot start its daemon leaves no member behind; the same token joins on a free port', async () => {
    const admin = join(await scratch(), 'admin')
    json(await cli(['init', ...listenOn(await freePort()), '--json'], { home: admin }))
    homes.push(admin)
    const { token } = json(await cli(['invite', '--json'], { home: admin }))
    const taken = await freePort()
    servers.push(await occupy(taken))
    const home = join(await scratch(), 'joiner')
    const r = await cli(['join', token, ...listenOn(taken), '--json'], { home, timeoutMs: 60_000 })
    expect(r.code).toBe(3)
    expect(errorOf(r.stderr).code).toBe('ERR_ADDRESS_IN_USE')
    await expect(readdir(home)).rejects.toMatchObject({ code: 'ENOENT' })
    const again = await cli(['join', token, ...listenOn(await freePort()), '--json'], { home, timeoutMs: 60_000 })
    homes.push(home)
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout).peerId).toMatch(/^12D3KooW/)
  }, 180_000)

  it('join whose members cannot be reached: exit 3, the home as it was', async () => {
    const admin = join(await scratch(), 'gone')
    json(await cli(['init', ...listenOn(await freePort()), '--json'], { home: admin }))
    const { token } = json(await cli(['invite', '--json'], { home: admin }))
    expect((await cli(['stop'], { home: admin })).code).toBe(0)
    const home = join(await scratch(), 'lonely')
    await mkdir(home, { mode: 0o700 })
    const r = await cli(['join', token, ...listenOn(await freePort()), '--json'], { home, timeoutMs: 60_000 })
    expect(r.code).toBe(3)
    expect(errorOf(r.stderr).code).toBe('ERR_JOIN_UNREACHABLE')
    expect(await readdir(home)).toEqual([])
    await rm(home, { recursive: true })
  }, 180_000)
})
