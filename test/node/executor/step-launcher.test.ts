/**
 * The native step launcher (node/executor/native), run as the executor runs it: its arguments
 * refused unless exactly right, the limits it sets, its exit status and the end sentinel after
 * the step's output, and a terminal without output processing. Inside a sandbox:
 * sandbox/sandbox.test.ts and sandbox/userns.test.ts.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Executor, STEP_END_SENTINEL, WRAPPER_FAILED_EXIT } from '../../../node/executor/index.js'
import { findStepLauncher, launcherArgv } from '../../../node/executor/step-launcher.js'
import { makeFixture, readCast, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'

interface Ran { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** runs the launcher with `args`, in a process group of its own; `onStdout` sees each chunk as it comes */
async function launch (args: string[], options: { cwd?: string, onStdout?: (text: string, pid: number) => void } = {}): Promise<Ran> {
  const child = spawn(findStepLauncher()!, args, { cwd: options.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString('latin1'); options.onStdout?.(stdout, child.pid!) })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  return await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => { resolve({ code, signal, stdout, stderr }) })
  })
}

const BASE = ['--sentinel', STEP_END_SENTINEL, '--fsize', String(1024 * 1024)]

describe('the step launcher', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'cit-launch-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('is built (npm ci builds it with node-gyp)', () => {
    expect(findStepLauncher()).toMatch(/cit-step$/)
  })

  it('prints the sentinel after the step\'s output and exits with the step\'s status', async () => {
    const r = await launch([...BASE, '--', '/bin/sh', '-c', 'echo one; echo two >&2; exit 7'])
    expect(r.code).toBe(7)
    expect(r.stdout).toBe(`one\n${STEP_END_SENTINEL}`)
    expect(r.stderr).toBe('two\n')
  })

  it('reports a step killed by a signal as 128 + its number, as a shell does', async () => {
    const r = await launch([...BASE, '--', '/bin/sh', '-c', 'kill -USR1 $$'])
    expect(r.signal).toBeNull()
    expect(r.code).toBe(128 + 10)
    expect(r.stdout).toBe(STEP_END_SENTINEL)
  })

  // SIGQUIT too: a job can type ^\ into its own terminal (TIOCSTI), which signals the launcher's group
  for (const [signal, n] of [['SIGTERM', 15], ['SIGQUIT', 3]] as const) {
    it(`outlives a ${signal} sent to the whole group, which ends the step, and reports it`, async () => {
      let signalled = false
      const r = await launch([...BASE, '--', '/bin/sh', '-c', 'echo up; exec sleep 30'], {
        onStdout: (text, pid) => {
          if (signalled || !text.includes('up')) return
          signalled = true
          process.kill(-pid, signal)
        }
      })
      expect(signalled).toBe(true)
      expect(r.code).toBe(128 + n)
      expect(r.stdout).toBe(`up\n${STEP_END_SENTINEL}`)
    })
  }

  it('sets the file size limit (in bytes) and the process limit', async () => {
    const r = await launch(['--sentinel', STEP_END_SENTINEL, '--fsize', String(512 * 300), '--nproc', '77', '--', '/bin/sh', '-c', 'ulimit -f; ulimit -H -f; ulimit -u 2>/dev/null || ulimit -p'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`300\n300\n77\n${STEP_END_SENTINEL}`)
  })

  it('a command that cannot run: 127 or 126 as from a shell, and still the sentinel', async () => {
    const r = await launch([...BASE, '--', join(dir, 'missing')])
    expect(r.code).toBe(127)
    expect(r.stderr).toContain('cit: cannot run')
    expect(r.stdout).toBe(STEP_END_SENTINEL)
  })

  it('a cgroup it cannot join stops it before the step runs (125)', async () => {
    const marker = join(dir, 'cg-ran')
    const r = await launch([...BASE, '--cgroup-procs', join(dir, 'nothing-here', 'cgroup.procs'), '--', '/bin/sh', '-c', `touch ${marker}`])
    expect(r.code).toBe(WRAPPER_FAILED_EXIT)
    expect(r.stderr).toMatch(/^cit: cannot join the job's cgroup/)
    expect(existsSync(marker)).toBe(false)
  })

  it('never enters a pid that names another process than the sandbox\'s pid 1', async () => {
    const marker = join(dir, 'reused-ran')
    const r = await launch([...BASE, '--target', String(process.pid), '--target-start', '1', '--ns', 'ipc,pid,mnt', '--uid', '1000', '--gid', '1000', '--clear-groups', '--cwd', '/', '--', '/bin/sh', '-c', `touch ${marker}`])
    expect(r.code).toBe(WRAPPER_FAILED_EXIT)
    expect(r.stderr).toContain('another process now')
    expect(existsSync(marker)).toBe(false)
  })

  const sandboxed = ['--target', '4242', '--target-start', '99', '--ns', 'ipc,pid,mnt', '--uid', '990', '--gid', '980', '--clear-groups', '--cwd', '/workspace']
  it.each([
    ['no arguments', []],
    ['no sentinel', ['--fsize', '100', '--', '/bin/sh']],
    ['no file size limit', ['--sentinel', 'x', '--', '/bin/sh']],
    ['a file size that is not a number', ['--sentinel', 'x', '--fsize', '10k', '--', '/bin/sh']],
    ['a file size of 0', ['--sentinel', 'x', '--fsize', '0', '--', '/bin/sh']],
    ['a negative process limit', [...BASE, '--nproc', '-1', '--', '/bin/sh']],
    ['a file size past 2^63', ['--sentinel', 'x', '--fsize', '99999999999999999999', '--', '/bin/sh']],
    ['an option given twice', [...BASE, '--fsize', '100', '--', '/bin/sh']],
    ['an unknown option', [...BASE, '--privileged', '--', '/bin/sh']],
    ['an option without its value', [...BASE, '--nproc']],
    ['nothing after --', [...BASE, '--']],
    ['a relative command', [...BASE, '--', 'sh']],
    ['a cgroup file with ..', [...BASE, '--cgroup-procs', '/sys/fs/cgroup/../../etc/cgroup.procs', '--', '/bin/sh']],
    ['a file that is not cgroup.procs', [...BASE, '--cgroup-procs', '/etc/passwd', '--', '/bin/sh']],
    ['a sentinel longer than 64 bytes', ['--sentinel', 'x'.repeat(65), '--fsize', '100', '--', '/bin/sh']],
    ['uid 0', [...BASE, ...sandboxed.map(a => a === '990' ? '0' : a), '--', '/bin/sh']],
    ['gid 0', [...BASE, ...sandboxed.map(a => a === '980' ? '0' : a), '--', '/bin/sh']],
    ['pid 1 as the target', [...BASE, ...sandboxed.map(a => a === '4242' ? '1' : a), '--', '/bin/sh']],
    ['an unknown namespace', [...BASE, ...sandboxed.map(a => a === 'ipc,pid,mnt' ? 'ipc,pid,mnt,time' : a), '--', '/bin/sh']],
    ['a sandbox without its mount namespace', [...BASE, ...sandboxed.map(a => a === 'ipc,pid,mnt' ? 'ipc,pid' : a), '--', '/bin/sh']],
    ['a namespace named twice', [...BASE, ...sandboxed.map(a => a === 'ipc,pid,mnt' ? 'ipc,pid,mnt,pid' : a), '--', '/bin/sh']],
    ['the groups kept outside a user namespace', [...BASE, ...sandboxed.filter(a => a !== '--clear-groups'), '--', '/bin/sh']],
    ['the groups cleared in a user namespace', [...BASE, ...sandboxed.map(a => a === 'ipc,pid,mnt' ? 'user,ipc,pid,mnt' : a), '--', '/bin/sh']],
    ['a relative working directory', [...BASE, ...sandboxed.map(a => a === '/workspace' ? 'workspace' : a), '--', '/bin/sh']],
    ['a target without its start time', [...BASE, ...sandboxed.slice(0, 2), ...sandboxed.slice(4), '--', '/bin/sh']],
    ['an account without a target', [...BASE, '--uid', '990', '--gid', '980', '--clear-groups', '--', '/bin/sh']]
  ])('refuses %s with 125 and a cit: line, running nothing', async (_what, args) => {
    const marker = join(dir, `ran-${Math.random()}`)
    const argv = args.at(-1) === '/bin/sh' ? [...args, '-c', `touch ${marker}`] : args
    const r = await launch(argv)
    expect(r.code).toBe(WRAPPER_FAILED_EXIT)
    expect(r.stderr).toMatch(/^cit: the step launcher: /)
    expect(r.stdout).toBe('')
    expect(existsSync(marker)).toBe(false)
  })

  it('launcherArgv gives the launcher what it accepts, and refuses a value that is not a whole number', () => {
    const argv = launcherArgv('/x/cit-step', {
      shell: '/bin/bash',
      command: 'make',
      sentinel: 'END',
      opostOff: true,
      maxFileBytes: 4096,
      nprocLimit: 64,
      procsFiles: ['/sys/fs/cgroup/cit-1/cgroup.procs'],
      sandbox: { initPid: 4242, initStart: 17, namespaces: ['ipc', 'net', 'pid', 'mnt'], uid: 990, gid: 980, clearGroups: true, cwd: '/workspace' }
    })
    expect(argv).toEqual({
      file: '/x/cit-step',
      args: ['--sentinel', 'END', '--fsize', '4096', '--nproc', '64', '--cgroup-procs', '/sys/fs/cgroup/cit-1/cgroup.procs', '--opost-off',
        '--target', '4242', '--target-start', '17', '--ns', 'ipc,net,pid,mnt', '--uid', '990', '--gid', '980', '--clear-groups', '--cwd', '/workspace',
        '--', '/bin/bash', '-c', 'make']
    })
    expect(() => launcherArgv('/x/cit-step', { shell: '/bin/sh', command: 'true', sentinel: 'END', opostOff: false, maxFileBytes: 1.5, procsFiles: [] }))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_EXECUTOR_OPTION' }))
  })
})

describe('Executor with the step launcher (no sandbox)', () => {
  let fx: Fixture
  beforeAll(async () => {
    fx = await makeFixture()
    fx.executor = new Executor({ blobs: fx.blobs }, { workspacesDir: fx.workspaces, graceMs: 500, stepLauncher: findStepLauncher() })
  })
  afterAll(async () => { await fx?.cleanup() })

  it('runs the step in a terminal without output processing, translated by the executor, in the job\'s cgroup', async () => {
    const result = await fx.executor.run({
      jobId: 'opost',
      spec: spec('opost', [stage('s', [['tty', "stty -a | tr ' ' '\\n' | grep -x -e -opost -e opost; printf 'a\\nb\\n'; pwd; cat /proc/self/cgroup | grep -c 'cit-'"]])]),
      params: {}
    })
    const out = (await readCast(fx.blobs, result.log)).output
    expect(result.outcome, out).toBe('succeeded')
    const lines = out.split('\r\n')
    expect(lines.slice(0, 4)).toEqual(['-opost', 'a', 'b', fx.executor.workspaceOf('opost')])
    expect(Number(lines[4])).toBeGreaterThan(0)
    expect(out).not.toContain(STEP_END_SENTINEL)
  })

  it('refuses a launcher that is not there; one turned off (false) or found is not logged as missing', () => {
    expect(() => new Executor({ blobs: fx.blobs }, { workspacesDir: fx.workspaces, stepLauncher: join(fx.dir, 'no-such-launcher') }))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_EXECUTOR_OPTION' }))
    const lines: string[] = []
    const logger = { debug () {}, info (msg: string) { lines.push(msg) }, warn () {}, error () {} }
    new Executor({ blobs: fx.blobs, logger }, { workspacesDir: fx.workspaces, stepLauncher: false })
    new Executor({ blobs: fx.blobs, logger }, { workspacesDir: fx.workspaces })
    // false is a choice, not a missing build; the default finds the one built here
    expect(lines.filter(l => l.includes('step launcher was not built'))).toEqual([])
  })

  it('a failing step\'s status and a signal\'s 128 + n reach the result', async () => {
    const failed = await fx.executor.run({ jobId: 'st1', spec: spec('status', [stage('s', [['seven', 'echo before; exit 7']])]), params: {} })
    expect(failed.outcome).toBe('failed')
    expect(failed.exitCode).toBe(7)
    expect((await readCast(fx.blobs, failed.log)).output).toContain('before')
    const killed = await fx.executor.run({ jobId: 'st2', spec: spec('status', [stage('s', [['usr1', 'kill -USR1 $$']])]), params: {} })
    expect(killed.exitCode).toBe(128 + 10)
  })
})
