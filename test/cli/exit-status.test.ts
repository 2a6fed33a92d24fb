import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, killAllDaemons, startDaemon, tempHome } from '../helpers/cli.js'
import { EXIT } from '../../node/error-codes.js'
import type { CliResult, Daemon } from '../helpers/cli.js'

const UNKNOWN = 'ab'.repeat(32)

/** the error a command printed with --json: its first stderr line */
const errorOf = (r: CliResult): { code: string, message: string, hint?: string } => JSON.parse(r.stderr.trim().split('\n')[0]).error

/** a non-zero exit prints exactly one line (plus one per problem of a broken input), never a stack */
function oneLine (r: CliResult): void {
  expect(r.stderr.trim().split('\n')).toHaveLength(1)
  expect(r.stderr).not.toMatch(/^\s+at /m)
}

describe('exit statuses and error outputs, as docs/cli.md says', () => {
  const temps: Array<{ dir: string, cleanup: () => Promise<void> }> = []
  const scratch = async (): Promise<string> => { const t = await tempHome(); temps.push(t); return t.dir }
  afterAll(async () => {
    await killAllDaemons()
    for (const t of temps) await t.cleanup()
  })

  it('--version and version print the version, exit 0', async () => {
    const home = await scratch()
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8'))
    for (const args of [['--version'], ['version']]) {
      const r = await cli(args, { home })
      expect(r.code).toBe(EXIT.OK)
      expect(r.stdout.trim()).toBe(`cit-node ${version as string}`)
    }
  })

  it('an unknown flag: exit 2, one line, the nearest flag suggested', async () => {
    const home = await scratch()
    const r = await cli(['jobs', '--limt', '3'], { home })
    expect(r.code).toBe(EXIT.USAGE)
    const [first, ...rest] = r.stderr.trim().split('\n')
    expect(first).toContain('--limt')
    expect(first).toContain('did you mean --limit?')
    // the command's usage line follows, nothing else (no stray quote, no "positional argument" advice)
    expect(rest).toEqual(['  usage: cit-node jobs [--limit N] [--json]'])
    expect(r.stderr).not.toContain("'")
    const j = await cli(['submit', '--wiat', 'x.yaml', '--json'], { home })
    expect(j.code).toBe(EXIT.USAGE)
    expect(errorOf(j).code).toBe('ERR_USAGE')
    expect(errorOf(j).message).toContain('did you mean --wait?')
    const cmd = await cli(['sumbit', '--json'], { home })
    expect(cmd.code).toBe(EXIT.USAGE)
    expect(errorOf(cmd).message).toContain('submit')
  })

  it('fetch of an unknown hash without a daemon: exit 2, and a home that did not exist is not created', async () => {
    const home = join(await scratch(), 'never-made')
    const r = await cli(['fetch', UNKNOWN, '--json', '-o', join(home, '..', 'out')], { home })
    expect(r.code).toBe(EXIT.USAGE)
    expect(errorOf(r).code).toBe('ERR_BLOB_NOT_FOUND')
    await expect(readdir(home)).rejects.toMatchObject({ code: 'ENOENT' })
    const plain = await cli(['fetch', UNKNOWN], { home })
    expect(plain.code).toBe(EXIT.USAGE)
    oneLine(plain)
  })

  it('no daemon: exit 3 with the way to start one', async () => {
    const home = await scratch()
    const r = await cli(['jobs', '--json'], { home })
    expect(r.code).toBe(EXIT.UNREACHABLE)
    expect(errorOf(r).code).toBe('ERR_DAEMON_UNREACHABLE')
    oneLine(await cli(['status'], { home }))
  })

  describe('with a daemon', () => {
    let home: string
    let daemon: Daemon

    beforeAll(async () => {
      home = await scratch()
      daemon = await startDaemon(home)
    })
    afterAll(async () => { await daemon?.kill() })

    it('fetch of an unknown hash: exit 2; fetch --json writes its JSON to stdout and wants -o', async () => {
      const r = await cli(['fetch', UNKNOWN, '--json', '-o', join(home, 'x')], { home })
      expect(r.code).toBe(EXIT.USAGE)
      expect(['ERR_BLOB_NOT_FOUND', 'ERR_NO_HOLDERS']).toContain(errorOf(r).code)
      oneLine(await cli(['fetch', UNKNOWN], { home }))

      const job = join(home, 'one.yaml')
      await writeFile(job, 'name: one\nartefacts: [a.txt]\nstages:\n  - steps:\n      - echo hello > a.txt\n')
      const done = JSON.parse((await cli(['submit', job, '--wait', '--json'], { home })).stdout)
      const out = join(home, 'a-copy.txt')
      const f = await cli(['fetch', `${done.id as string}:a.txt`, '-o', out, '--json'], { home })
      expect(f.code).toBe(EXIT.OK)
      expect(JSON.parse(f.stdout)).toMatchObject({ sha256: done.artefacts[0].sha256, size: 6, path: out })
      expect(f.stderr).toBe('')
      const noPath = await cli(['fetch', done.artefacts[0].sha256, '--json'], { home })
      expect(noPath.code).toBe(EXIT.USAGE)
      expect(errorOf(noPath).code).toBe('ERR_USAGE')
    })

    it('an unknown job, a broken job file, a job that fails: 2, 2, 1', async () => {
      const r = await cli(['show', 'deadbeef', '--json'], { home })
      expect(r.code).toBe(EXIT.USAGE)
      expect(errorOf(r).code).toBe('ERR_JOB_NOT_FOUND')
      const broken = join(home, 'broken.yaml')
      await writeFile(broken, 'name: [\n')
      const b = await cli(['submit', broken, '--json'], { home })
      expect(b.code).toBe(EXIT.USAGE)
      expect(errorOf(b).code).toBe('ERR_JOB_FILE')
      const failing = await cli(['submit', 'examples/failing.yaml', '--wait', '--json'], { home })
      expect(failing.code).toBe(EXIT.JOB_FAILED)
      expect(JSON.parse(failing.stdout).state).toBe('failed')
    })

    it('pause, resume and drain --json print the status object', async () => {
      for (const [cmd, state] of [['pause', 'paused'], ['drain', 'draining'], ['resume', 'active']]) {
        const r = await cli([cmd, '--json'], { home })
        expect(r.code).toBe(EXIT.OK)
        const s = JSON.parse(r.stdout)
        expect(s.state).toBe(state)
        expect(s.pid).toBe(daemon.pid)
      }
    })
  })
})
