import { spawn } from 'node:child_process'
import { cp, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, ROOT, tempHome } from '../helpers/cli.js'
import { isAlive, readLivePid } from '../../node/pidfile.js'

/** the shell blocks of the README's "A short tour" section, in order, exactly as printed */
export function tourCommands (readme: string): string[] {
  const start = readme.indexOf('\n## A short tour')
  expect(start, 'the README has a "## A short tour" section').toBeGreaterThanOrEqual(0)
  const rest = readme.slice(start + 1)
  const next = rest.indexOf('\n## ', 1)
  const section = next === -1 ? rest : rest.slice(0, next)
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map(m => m[1])
}

describe('the README tour, copied line by line, works on a fresh home', () => {
  const temps: Array<{ dir: string, cleanup: () => Promise<void> }> = []
  let home = ''

  afterAll(async () => {
    // whatever the tour left running (it stops its daemons itself when it succeeds)
    for (const h of ['.cit', '.cit-m1', '.cit-m2']) {
      const pid = await readLivePid(join(home, h, 'daemon.pid'))
      if (pid != null && isAlive(pid)) process.kill(pid, 'SIGKILL')
    }
    for (const t of temps) await t.cleanup()
  })

  it('runs every command of the tour in order, each exiting 0', async () => {
    const blocks = tourCommands(await readFile(join(ROOT, 'README.md'), 'utf8'))
    expect(blocks.length).toBeGreaterThanOrEqual(2)
    const script = blocks.join('\n')
    expect(script).toContain('cit-node start -d')
    expect(script).toContain('cit-node join')

    // a fresh account: an empty $HOME, cit-node on the PATH as `npm link` puts it, the clone's examples
    const t = await tempHome('cit-tour-')
    temps.push(t)
    home = join(t.dir, 'h')
    const clone = join(t.dir, 'clone')
    const bin = join(t.dir, 'bin')
    await mkdir(home)
    await mkdir(bin)
    await cp(join(ROOT, 'examples'), join(clone, 'examples'), { recursive: true })
    // the machine that runs the tests is busy with other daemons: its load average says nothing
    // about these members, whose default loadLimit would keep the tour's mesh job waiting
    for (const member of ['.cit-m1', '.cit-m2']) {
      await mkdir(join(home, member), { mode: 0o700 })
      await writeFile(join(home, member, 'config.json'), JSON.stringify({ loadLimit: 1000 }))
    }
    await symlink(CLI, join(bin, 'cit-node'))
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH ?? ''}` }
    delete env.CIT_HOME

    // its own process group: a command left hanging is killed with the shell
    const child = spawn('bash', ['-euo', 'pipefail', '-x', '-c', script], { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch {} }, 240_000)
    const code = await new Promise<number | null>(resolve => child.on('close', c => { resolve(c) }))
    clearTimeout(timer)
    expect({ code, tail: code === 0 ? '' : out.slice(-3000) }).toEqual({ code: 0, tail: '' })
    expect(out).toContain('hi, world!')
    expect(out).toContain('example-build succeeded')
    expect((await readFile(join(clone, 'report.xml'), 'utf8'))).toContain('<testsuite')
    // the tour stopped what it started
    for (const h of ['.cit', '.cit-m1', '.cit-m2']) {
      await expect(stat(join(home, h, 'control.sock'))).rejects.toMatchObject({ code: 'ENOENT' })
    }
  }, 300_000)
})
