/**
 * The job sandbox end to end: a real daemon started by the real CLI, jobs submitted through it.
 * A job cannot reach the node's key, socket, home, other workspaces or processes; `network: none`
 * cuts a job off; ordinary builds still work; a node without a sandbox says so; a home others
 * could enter is refused.
 *
 * The home is under /var/tmp, not /tmp: a job's /tmp is private anyway, so a home there would be
 * out of a job's sight even without the sandbox hiding it.
 */
import { execFileSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../bench/ports.js'
import { cli, killAllDaemons, startDaemon } from '../helpers/cli.js'
import type { Daemon } from '../helpers/cli.js'
import type { AddressInfo } from 'node:net'

const cleanups: Array<() => Promise<void>> = []
async function dirIn (base: string, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(base, prefix))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

afterAll(async () => {
  await killAllDaemons()
  for (const c of cleanups) await c()
})

/** submit a job file written from `body`, wait for it, and return the job and its terminal output */
async function runJob (home: string, name: string, body: string): Promise<{ job: any, out: string }> {
  const file = join(home, `${name}.yaml`)
  await writeFile(file, `name: ${name}\ntimeout: 2m\n${body}`)
  const r = await cli(['submit', file, '--wait', '--json'], { home, timeoutMs: 120_000 })
  const job = JSON.parse(r.stdout)
  const logs = await cli(['logs', job.id], { home })
  return { job, out: logs.stdout }
}

/** a step that prints `yes` when `command` succeeds and `no` otherwise (a step that never fails) */
const attempt = (label: string, command: string): string => `      - '(${command.replace(/'/g, "''")}) >/dev/null 2>&1 && echo "${label}=yes" || echo "${label}=no"'\n`

describe('a job in the sandbox cannot take the node over', () => {
  let home: string
  let fixtures: string
  let repo: string
  let daemon: Daemon
  let httpPort: number

  beforeAll(async () => {
    home = await dirIn('/var/tmp', 'cit-sbx-')
    // what jobs may read: the operator exposes it read-only (it is in /tmp, which jobs do not share)
    fixtures = await dirIn(tmpdir(), 'cit-sbx-fix-')
    await chmod(fixtures, 0o755)
    repo = join(fixtures, 'repo')
    await mkdir(repo)
    await writeFile(join(repo, 'README'), 'cloned from a local repository\n')
    const git = (...args: string[]): void => { execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { stdio: 'ignore' }) }
    git('init', '-q')
    git('add', 'README')
    git('commit', '-qm', 'first')
    execFileSync('chmod', ['-R', 'a+rX', fixtures])
    httpPort = await freePort()
    await writeFile(join(home, 'config.json'), JSON.stringify({ sandbox: { readOnlyPaths: [fixtures] }, http: { listen: `127.0.0.1:${httpPort}` } }))
    daemon = await startDaemon(home)
  }, 60_000)

  it('status says jobs run in a sandbox', async () => {
    const s = JSON.parse((await cli(['status', '--json'], { home })).stdout)
    expect(s.isolation).toBe('sandbox')
    expect(s.isolationDetail).toContain('build users')
    expect((await cli(['status'], { home })).stdout).toMatch(/isolation sandbox/)
  })

  it('the key, the control socket, the home, another workspace and the daemon are out of reach', async () => {
    const victim = await runJob(home, 'victim', 'stages:\n  - steps:\n      - echo theirs > secret.txt\n')
    expect(victim.job.state).toBe('succeeded')
    const victimWs = join(home, 'workspaces', 'victim')
    const steps = [
      attempt('key', `cat ${home}/identity.key`),
      attempt('socket', `curl -sS --max-time 5 --unix-socket ${home}/control.sock http://x/v1/status`),
      attempt('list-home', `ls -A ${home}`),
      attempt('write-home', `touch ${home}/planted`),
      attempt('list-ws', `ls ${victimWs}`),
      attempt('read-ws', `cat ${victimWs}/secret.txt`),
      attempt('write-ws', `touch ${victimWs}/planted`),
      attempt('signal', `kill -0 ${daemon.pid}`),
      attempt('daemon-home', `test -d ${homedir()}`),
      attempt('env-names-home', `env | grep -F ${home}`),
      // other jobs' terminals (the daemon's ptys) are not in the job's /dev/pts
      attempt('other-ptys', 'ls /dev/pts | grep -v ptmx | grep .'),
      '      - echo "uid=$(id -u) ws=$CIT_WORKSPACE home=$HOME"\n'
    ]
    const { job, out } = await runJob(home, 'attacker', `stages:\n  - steps:\n${steps.join('')}`)
    expect(job.state, out).toBe('succeeded')
    for (const label of ['key', 'socket', 'list-home', 'write-home', 'list-ws', 'read-ws', 'write-ws', 'signal', 'daemon-home', 'env-names-home', 'other-ptys']) {
      expect(out, label).toContain(`${label}=no`)
    }
    const m = /uid=(\d+) ws=(\S+) home=(\S+)/.exec(out)!
    expect(Number(m[1])).not.toBe(process.getuid!())
    expect(Number(m[1])).not.toBe(0)
    expect(m[2]).toBe('/workspace')
    expect(m[3]).toBe('/workspace')
    // and from the outside: nothing was planted, the daemon is fine
    await expect(stat(join(home, 'planted'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(stat(join(victimWs, 'planted'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readFile(join(victimWs, 'secret.txt'), 'utf8')).toBe('theirs\n')
    expect(JSON.parse((await cli(['status', '--json'], { home })).stdout).pid).toBe(daemon.pid)
  })

  it('the HTTP face on loopback answers this machine\'s users but not a job (a job connects from loopback too)', async () => {
    const url = `http://127.0.0.1:${httpPort}/api/v1/jobs`
    // from the host: reads on loopback are open
    expect((await fetch(url)).status).toBe(200)
    const probe = '      - echo "code=$(curl -s -o /dev/null -w \'%{http_code}\' --max-time 5 ' + url + ')"\n'
    const { job, out } = await runJob(home, 'snoop', `stages:\n  - steps:\n${probe}`)
    expect(job.state, out).toBe('succeeded')
    expect(out).toContain('code=401')
  })

  it('network: none cannot reach a listener on 127.0.0.1; a job without it can', async () => {
    let connections = 0
    const server = createServer(socket => { connections++; socket.on('error', () => {}); socket.end() })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const port = (server.address() as AddressInfo).port
      const connect = attempt('tcp', `exec 3<>/dev/tcp/127.0.0.1/${port}`)
      const cut = await runJob(home, 'offline', `network: none\nstages:\n  - steps:\n${connect}`)
      expect(cut.job.state).toBe('succeeded')
      expect(cut.out).toContain('tcp=no')
      expect(connections).toBe(0)
      const open = await runJob(home, 'online', `stages:\n  - steps:\n${connect}`)
      expect(open.out, `${String(open.job.state)}: ${String(open.job.reason)}`).toContain('tcp=yes')
      expect(connections).toBe(1)
    } finally {
      server.close()
    }
  })

  it('a C build with cc and make, and a git clone of a local repository, work; the next run reuses the workspace', async () => {
    const body = [
      'stages:',
      '  - title: build',
      '    steps:',
      '      - |',
      '        test -f hello.c && echo "hello.c kept from the last run"',
      "        printf '#include <stdio.h>\\nint main(void) { puts(\"hello from a sandboxed build\"); return 0; }\\n' > hello.c",
      "        printf 'hello: hello.c\\n\\tcc -O2 -o hello hello.c\\n' > Makefile",
      '      - make',
      '      - ./hello',
      '  - title: clone',
      '    steps:',
      `      - if [ -d clone ]; then echo "clone kept"; else git clone -q ${repo} clone; fi; cat clone/README`,
      ''
    ].join('\n')
    const first = await runJob(home, 'c-build', body)
    expect(first.job.state, `${String(first.job.reason)}\n${first.out}`).toBe('succeeded')
    expect(first.out).toContain('cc -O2 -o hello hello.c')
    expect(first.out).toContain('hello from a sandboxed build')
    expect(first.out).toContain('cloned from a local repository')
    expect(first.out).not.toContain('kept')
    const second = await runJob(home, 'c-build', body)
    expect(second.job.state, second.out).toBe('succeeded')
    expect(second.out).toContain('hello.c kept from the last run')
    expect(second.out).toContain('clone kept')
    // make found hello.c rewritten with the same content but newer: what matters is that it ran in the same place
    expect(second.out).toContain('hello from a sandboxed build')
  })
})

describe('a node without a sandbox', () => {
  it('says so in status and its log, and still runs its own jobs', async () => {
    const home = await dirIn(tmpdir(), 'cit-nosbx-')
    await writeFile(join(home, 'config.json'), JSON.stringify({ sandbox: { enabled: false } }))
    const d = await startDaemon(home)
    const s = JSON.parse((await cli(['status', '--json'], { home })).stdout)
    expect(s.isolation).toBe('none')
    expect(s.isolationDetail).toContain('sandbox.enabled')
    expect((await cli(['status'], { home })).stdout).toMatch(/isolation NONE/)
    const log = await readFile(join(home, 'daemon.log'), 'utf8')
    expect(log).toMatch(/WITHOUT a sandbox/)
    const { job, out } = await runJob(home, 'own', 'stages:\n  - steps:\n      - echo "uid=$(id -u)"\n')
    expect(job.state).toBe('succeeded')
    expect(out).toContain(`uid=${process.getuid!()}`)
    const cut = await runJob(home, 'cut', 'network: none\nstages:\n  - steps:\n      - echo ran\n')
    expect(cut.job.state).toBe('failed')
    expect(cut.job.reason).toContain('network: none')
    await d.kill()
  })
})

describe('a home others could enter', () => {
  it('the daemon refuses to start: a loose home, a loose key', async () => {
    const home = await dirIn(tmpdir(), 'cit-loose-')
    await chmod(home, 0o755)
    const r = await cli(['start'], { home, timeoutMs: 30_000 })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`${home}:`)
    await chmod(home, 0o700)
    await writeFile(join(home, 'identity.key'), '')
    await rm(join(home, 'identity.key'))
    // a key the daemon made, loosened afterwards
    const first = await startDaemon(home)
    await first.kill()
    await chmod(join(home, 'identity.key'), 0o644)
    const again = await cli(['start'], { home, timeoutMs: 30_000 })
    expect(again.code).toBe(2)
    expect(again.stderr).toContain(`${join(home, 'identity.key')}:`)
  })
})
