/**
 * A step launcher started ahead of its step (`--hold`): it prints the ready marker and runs
 * nothing until the daemon's go line, which it reads with its terminal quiet and then puts the
 * terminal back; keys typed meanwhile wait. Through the executor: a run's first step is started
 * so while the run waits for its gate, in the job's cgroup, and never let go when the run is
 * called off. Inside a sandbox: sandbox/sandbox.test.ts (every first step takes this path).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Executor, STEP_END_SENTINEL, WRAPPER_FAILED_EXIT } from '../../../node/executor/index.js'
import { STEP_READY_MARKER } from '../../../node/executor/constants.js'
import { PtyCommand } from '../../../node/executor/pty-runner.js'
import { findStepLauncher, goLine, launcherArgv } from '../../../node/executor/step-launcher.js'
import { waitFor } from '../../helpers/wait.js'
import { makeFixture, readCast, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'

const ENV = { TERM: 'xterm', PATH: process.env.PATH ?? '/usr/bin:/bin' }
const BASE = ['--sentinel', STEP_END_SENTINEL, '--fsize', String(1024 * 1024), '--opost-off', '--hold', STEP_READY_MARKER]

/** the launcher held in a pty of its own, running `script`; `out()` is what reached the job's output */
function held (script: string, args: string[] = BASE): { cmd: PtyCommand, out: () => string } {
  let text = ''
  const cmd = new PtyCommand({
    file: findStepLauncher()!,
    args: [...args, '--', '/bin/sh', '-c', script],
    cwd: '/',
    env: ENV,
    cols: 80,
    rows: 24,
    ready: STEP_READY_MARKER,
    onData: d => { text += d.toString('latin1') }
  })
  return { cmd, out: () => text }
}

/** pids of the processes whose command line holds `token` */
function processesWith (token: string): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(token)) out.push(Number(name))
    } catch {}
  }
  return out
}

describe('the step launcher, held (--hold)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cit-held-'))
    await PtyCommand.load()
  })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('runs nothing before its go line, then the step with the terminal put back as it was', async () => {
    const marker = join(dir, 'ran')
    const { cmd, out } = held(`touch ${marker}; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo -e isig -e -isig -e opost -e -opost`)
    expect(await cmd.ready).toBe(true)
    // waiting for its go line: the step has not run
    expect(existsSync(marker)).toBe(false)
    expect(cmd.running).toBe(true)
    cmd.go(goLine())
    expect(await cmd.exited).toEqual({ exitCode: 0 })
    expect(existsSync(marker)).toBe(true)
    // neither marker, nor the go line (never echoed), reaches the output; the modes are the terminal's own again
    expect(out().split('\n').filter(l => l !== '').sort()).toEqual(['-opost', 'echo', 'icanon', 'isig'])
  })

  it('keys typed before the launcher is let go wait, and reach the step once it is', async () => {
    const { cmd, out } = held('read line; echo "got:$line"')
    cmd.write('hello\r')
    expect(await cmd.ready).toBe(true)
    cmd.write('again\r')
    cmd.go(goLine())
    expect(await cmd.exited).toEqual({ exitCode: 0 })
    expect(out()).toContain('got:hello')
    expect(out()).not.toContain(STEP_READY_MARKER)
  })

  it.each([
    ['a line that is not a go line', 'stop\n'],
    ['a sandbox named where none was expected', 'go 4242 99\n'],
    ['a go line with more words', 'go 1 2 3\n']
  ])('refuses %s with 125 and a cit: line, running nothing', async (_what, line) => {
    const marker = join(dir, `ran-${Math.random()}`)
    const { cmd, out } = held(`touch ${marker}`)
    expect(await cmd.ready).toBe(true)
    cmd.go(line)
    expect((await cmd.exited).exitCode).toBe(WRAPPER_FAILED_EXIT)
    expect(out()).toMatch(/cit: the step launcher: /)
    expect(existsSync(marker)).toBe(false)
  })

  it('a held launch into a sandbox takes the sandbox from its go line: no pid is accepted there, nor a missing pid', async () => {
    const box = ['--ns', 'ipc,pid,mnt', '--uid', '990', '--gid', '980', '--clear-groups', '--cwd', '/workspace']
    for (const line of ['go\n', 'go 1 5\n', 'go 4242 x\n']) {
      const marker = join(dir, `ran-${Math.random()}`)
      const { cmd, out } = held(`touch ${marker}`, [...BASE, ...box])
      expect(await cmd.ready).toBe(true)
      cmd.go(line)
      expect((await cmd.exited).exitCode).toBe(WRAPPER_FAILED_EXIT)
      expect(out()).toMatch(/cit: the step launcher: /)
      expect(existsSync(marker)).toBe(false)
    }
  })

  it.each([
    ['--hold with --target', [...BASE, '--target', '4242', '--target-start', '9', '--ns', 'ipc,pid,mnt', '--uid', '990', '--gid', '980', '--clear-groups', '--cwd', '/workspace']],
    ['--hold given twice', [...BASE, '--hold', 'X']],
    ['an empty ready marker', ['--sentinel', 'x', '--fsize', '100', '--hold', '']],
    ['a held sandbox without its working directory', [...BASE, '--ns', 'ipc,pid,mnt', '--uid', '990', '--gid', '980', '--clear-groups']]
  ])('refuses %s before anything, with 125', async (_what, args) => {
    const marker = join(dir, `ran-${Math.random()}`)
    const { cmd, out } = held(`touch ${marker}`, args)
    expect(await cmd.ready).toBe(false)
    expect((await cmd.exited).exitCode).toBe(WRAPPER_FAILED_EXIT)
    expect(out()).toMatch(/cit: the step launcher: /)
    expect(existsSync(marker)).toBe(false)
  })

  it('launcherArgv and goLine give the held form', () => {
    const argv = launcherArgv('/x/cit-step', {
      shell: '/bin/bash',
      command: 'make',
      sentinel: 'END',
      ready: 'READY',
      opostOff: true,
      maxFileBytes: 4096,
      procsFiles: [],
      sandbox: { namespaces: ['ipc', 'pid', 'mnt'], uid: 990, gid: 980, clearGroups: true, cwd: '/workspace' }
    })
    expect(argv.args).toEqual(['--sentinel', 'END', '--fsize', '4096', '--hold', 'READY', '--opost-off',
      '--ns', 'ipc,pid,mnt', '--uid', '990', '--gid', '980', '--clear-groups', '--cwd', '/workspace', '--', '/bin/bash', '-c', 'make'])
    expect(goLine()).toBe('go\n')
    expect(goLine({ initPid: 4242, initStart: 17 })).toBe('go 4242 17\n')
    expect(() => goLine({ initPid: 1, initStart: 17 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_EXECUTOR_OPTION' }))
  })
})

describe('Executor: the first step started ahead of the gate', () => {
  let fx: Fixture
  beforeAll(async () => {
    fx = await makeFixture()
    fx.executor = new Executor({ blobs: fx.blobs }, { workspacesDir: fx.workspaces, graceMs: 500, stepLauncher: findStepLauncher() })
  })
  afterAll(async () => { await fx?.cleanup() })

  it('waits in the job\'s cgroup while the gate is shut, runs the step once it opens', async () => {
    const token = `held-${Date.now()}-a`
    let open!: () => void
    const ready = new Promise<void>(resolve => { open = resolve })
    const running = fx.executor.run({ jobId: token, spec: spec('held-a', [stage('s', [['one', `echo ${token} > out; echo first`], ['two', 'echo second']])]), params: {}, ready })
    await waitFor(() => processesWith(token).length > 0, { timeoutMs: 10_000, intervalMs: 10, what: 'the first step\'s launcher' })
    const [pid] = processesWith(token)
    // the launcher, in the job's cgroup (where cgroups are used), before the step ran
    await waitFor(() => readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes('cit-'), { timeoutMs: 10_000, intervalMs: 10, what: 'the launcher to join the job\'s cgroup' })
    expect(readFileSync(`/proc/${pid}/cmdline`, 'latin1')).toContain('--hold')
    expect(existsSync(join(fx.workspaces, 'held-a', 'out'))).toBe(false)
    open()
    const result = await running
    const out = (await readCast(fx.blobs, result.log)).output
    expect(result.outcome, out).toBe('succeeded')
    expect(out).toContain('first\r\n')
    expect(out).toContain('second\r\n')
    expect(out.indexOf('first')).toBeLessThan(out.indexOf('second'))
    expect(out).not.toContain(STEP_READY_MARKER)
    expect(readFileSync(join(fx.workspaces, 'held-a', 'out'), 'utf8')).toBe(`${token}\n`)
  })

  it('ends the launcher it started ahead when the run is called off, the step never run', async () => {
    const token = `held-${Date.now()}-b`
    let shut!: (err: Error) => void
    const ready = new Promise<void>((_resolve, reject) => { shut = reject })
    const running = fx.executor.run({ jobId: token, spec: spec('held-b', [stage('s', [['one', `echo ${token} > out`]])]), params: {}, ready })
    await waitFor(() => processesWith(token).length > 0, { timeoutMs: 10_000, intervalMs: 10, what: 'the first step\'s launcher' })
    shut(new Error('the claim did not win'))
    await expect(running).rejects.toMatchObject({ code: 'ERR_RUN_CALLED_OFF' })
    expect(processesWith(token)).toEqual([])
    expect(existsSync(join(fx.workspaces, 'held-b', 'out'))).toBe(false)
  })
})
