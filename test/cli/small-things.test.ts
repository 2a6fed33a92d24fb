import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, killAllDaemons, startDaemon, tempHome, waitFor } from '../helpers/cli.js'
import { EXIT } from '../../node/error-codes.js'
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../cli/daemon.js'
import type { CliResult, Daemon } from '../helpers/cli.js'

const errorOf = (r: CliResult): { code: string, message: string, hint?: string } => JSON.parse(r.stderr.trim().split('\n')[0]).error

describe('the small things of the first hour', () => {
  const temps: Array<{ dir: string, cleanup: () => Promise<void> }> = []
  const scratch = async (): Promise<string> => { const t = await tempHome(); temps.push(t); return t.dir }
  let home: string
  let daemon: Daemon
  let job: any

  beforeAll(async () => {
    home = await scratch()
    daemon = await startDaemon(home)
    const file = join(home, 'colour.yaml')
    await writeFile(file, "name: colour\nstages:\n  - steps:\n      - printf '\\033[31mred\\033[0m text\\n'; echo second line\n")
    job = JSON.parse((await cli(['submit', file, '--wait', '--json'], { home })).stdout)
  })

  afterAll(async () => {
    await daemon?.kill()
    await killAllDaemons()
    for (const t of temps) await t.cleanup()
  })

  it('a reference too short to be a prefix says a prefix needs 4 hex digits', async () => {
    const r = await cli(['show', 'e4', '--json'], { home })
    expect(r.code).toBe(EXIT.USAGE)
    expect(errorOf(r).code).toBe('ERR_JOB_NOT_FOUND')
    expect(errorOf(r).message).toContain('at least 4 hex digits')
  })

  it('a finished job "has succeeded", not "is succeeded"', async () => {
    const r = await cli(['priority', job.id, '5', '--json'], { home })
    expect(r.code).toBe(EXIT.USAGE)
    expect(errorOf(r).message).toContain(`job ${job.id as string} has succeeded`)
  })

  it('peer ids are shortened one way everywhere: their last 8 characters', async () => {
    const tail = `…${(job.executor as string).slice(-8)}`
    const table = (await cli(['jobs'], { home })).stdout
    expect(table).toContain(tail)
    const shown = (await cli(['show', job.id], { home })).stdout
    const events = shown.split('\n').filter(l => /^\s+\d{4}-\d\d-\d\dT/.test(l))
    expect(events.length).toBeGreaterThanOrEqual(3)
    for (const line of events) {
      expect(line).toContain(tail)
      expect(line).not.toContain((job.executor as string).slice(0, 12))
    }
  })

  it('logs piped get LF line ends; --plain drops escape sequences', async () => {
    const piped = await cli(['logs', job.id], { home })
    expect(piped.code).toBe(0)
    expect(piped.stdout).toContain('red\x1b[0m text\nsecond line\n')
    expect(piped.stdout).not.toContain('\r')
    const plain = await cli(['logs', job.id, '--plain'], { home })
    expect(plain.stdout).toContain('red text\nsecond line\n')
    expect(plain.stdout).not.toContain('\x1b')
    const replay = await cli(['logs', job.id, '--replay', '--speed', '100', '--plain'], { home })
    expect(replay.stdout).toContain('red text\nsecond line\n')
    expect(replay.stdout).not.toMatch(/[\r\x1b]/)
    const follow = await cli(['submit', join(home, 'colour.yaml'), '--follow'], { home })
    expect(follow.stdout).toContain('second line\n')
    expect(follow.stdout).not.toContain('\r\n')
  })

  it('a config typo gets a did-you-mean, and stops start with exit 2', async () => {
    const h = await scratch()
    await writeFile(join(h, 'config.json'), JSON.stringify({ slotz: 2, retention: { keepResult: 1 } }))
    const r = await cli(['start', '-d', '--json'], { home: h })
    expect(r.code).toBe(EXIT.USAGE)
    const e = errorOf(r)
    expect(e.code).toBe('ERR_INVALID_INPUT')
    expect(e.message).toContain('slotz: unknown field (did you mean "slots"?)')
    expect(e.message).toContain('retention.keepResult: unknown field (did you mean "keepResults"?)')
  })

  it('a daemon started in the background runs with the memory settings of DAEMON_NODE_FLAGS and DAEMON_ENV', async () => {
    const h = await scratch()
    const r = await cli(['start', '-d', '--json'], { home: h })
    expect(r.code).toBe(0)
    const { pid } = JSON.parse(r.stdout)
    try {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
      for (const flag of DAEMON_NODE_FLAGS) expect(argv).toContain(flag)
      const env = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0')
      for (const [k, v] of Object.entries(DAEMON_ENV)) expect(env).toContain(`${k}=${v}`)
    } finally {
      expect((await cli(['stop'], { home: h })).code).toBe(0)
    }
  })

  it('an expired token says to ask an admin for a new invite', async () => {
    const admin = await scratch()
    const init = await cli(['init', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'], { home: admin })
    expect(init.code).toBe(0)
    try {
      const { token, expiresAt } = JSON.parse((await cli(['invite', '--expires', '1s', '--json'], { home: admin })).stdout)
      await waitFor(() => Date.now() > expiresAt + 100, { timeoutMs: 5000, what: 'the token to expire' })
      const joiner = await scratch()
      const r = await cli(['join', token], { home: joiner })
      expect(r.code).toBe(EXIT.USAGE)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(/expired/)
      expect(r.stderr).toContain('ask an admin of the mesh for a new one: `cit-node invite`')
    } finally {
      await cli(['stop'], { home: admin })
    }
  })
})
