import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../../node/executor/index.js'
import { alive, makeFixture, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'

// with a cgroup, and with the fallback that follows the steps' sessions through /proc
describe.each([
  { mode: 'cgroup', cgroups: true },
  { mode: 'fallback', cgroups: false }
])('Executor ($mode): timeout, cancel and kill', ({ mode, cgroups }) => {
  let fx: Fixture
  const seen: number[] = []
  beforeEach(async () => { fx = await makeFixture({ graceMs: 500, cgroups }) })
  afterEach(async () => {
    // a failed assertion must not leave sleepers behind
    for (const pid of seen.splice(0)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    await fx.cleanup()
  })

  const pidsIn = async (name: string, file: string): Promise<number[]> => {
    const pids = (await readFile(join(fx.workspaces, name, file), 'utf8')).split(/\s+/).filter(Boolean).map(Number)
    seen.push(...pids)
    return pids
  }
  // a new session escapes the fallback (documented); only a cgroup catches it
  const escape = cgroups ? 'setsid sleep 302 & echo $! >> pids;' : 'sleep 302 & echo $! >> pids;'

  it('times out: kills the whole tree, background grandchildren and new sessions included', async () => {
    const result = await fx.executor.run({
      jobId: 't1',
      spec: spec('timeout', [stage('s', [
        ['spawn', `sleep 300 & echo $! >> pids; (sleep 301 & echo $! >> pids; wait) & ${escape} sleep 300`],
        ['never', 'echo ran >> never']
      ])], { timeoutMs: 1500, onFailure: 'echo "$CIT_JOB_OUTCOME" > final' }),
      params: {}
    })
    expect(result.outcome).toBe('timed-out')
    expect(result.exitCode).toBeNull()
    expect(result.reason).toMatch(/timed out after 1500 ms/)
    const pids = await waitFor(async () => { const p = await pidsIn('timeout', 'pids'); return p.length === 3 ? p : undefined })
    for (const pid of pids) expect(alive(pid), `pid ${pid} still alive`).toBe(false)
    expect(existsSync(join(fx.workspaces, 'timeout', 'never'))).toBe(false)
    // the job's onFailure still ran, told why
    expect((await readFile(join(fx.workspaces, 'timeout', 'final'), 'utf8')).trim()).toBe('timed-out')
    expect(result.usage.wallMs).toBeGreaterThanOrEqual(1500)
  })

  it('SIGKILLs a process that ignores SIGTERM, after the grace period', async () => {
    const started = Date.now()
    const result = await fx.executor.run({
      jobId: 't2',
      spec: spec('stubborn', [stage('s', [['ignore', "trap '' TERM; echo $$ > pid; while :; do sleep 0.05; done"]])], { timeoutMs: 1000 }),
      params: {}
    })
    const took = Date.now() - started
    expect(result.outcome).toBe('timed-out')
    const [pid] = await pidsIn('stubborn', 'pid')
    expect(alive(pid)).toBe(false)
    // SIGTERM did not end it: it lasted at least the grace period past the timeout
    expect(took).toBeGreaterThanOrEqual(1000 + 500)
  })

  it('is cancelled through the signal, with the reason', async () => {
    const controller = new AbortController()
    let seen = ''
    const running = fx.executor.run({
      jobId: 'c1',
      spec: spec('cancel', [stage('s', [['wait', 'echo $$ > pid; echo started; sleep 300']], { onFailure: 'echo stage-hook >> hooks' })], {
        onFailure: 'echo "job-hook $CIT_JOB_OUTCOME" >> hooks'
      }),
      params: {},
      signal: controller.signal,
      onOutput: data => { seen += Buffer.from(data).toString() }
    })
    await waitFor(() => seen.includes('started'), { timeoutMs: 10_000, what: 'the step to start' })
    controller.abort(new Error('user asked'))
    const result = await running
    expect(result.outcome).toBe('cancelled')
    expect(result.exitCode).toBeNull()
    expect(result.reason).toBe('cancelled: user asked')
    const [pid] = await pidsIn('cancel', 'pid')
    expect(alive(pid)).toBe(false)
    // no stage hook after a cancel; the job's onFailure runs, once
    expect((await readFile(join(fx.workspaces, 'cancel', 'hooks'), 'utf8')).trim()).toBe('job-hook cancelled')
  })

  it('cancels a run still waiting for its workspace without running anything', async () => {
    const first = fx.executor.run({ jobId: 'q1', spec: spec('queue', [stage('s', [['a', 'sleep 1']])]), params: {} })
    const controller = new AbortController()
    const second = fx.executor.run({
      jobId: 'q2', spec: spec('queue', [stage('s', [['b', 'echo ran > second']])], { onFailure: 'echo hook > second' }), params: {}, signal: controller.signal
    })
    expect(fx.executor.running.sort()).toEqual(['q1', 'q2'])
    controller.abort()
    const r2 = await second
    expect(r2.outcome).toBe('cancelled')
    expect((await first).outcome).toBe('succeeded')
    expect(existsSync(join(fx.workspaces, 'queue', 'second'))).toBe(false)
    expect(fx.executor.running).toEqual([])
  })

  it('kills background processes a successful job leaves behind', async () => {
    // ignoring SIGHUP, the sleeper survives its terminal closing: only the executor's kill ends it
    const daemon = `${cgroups ? 'setsid ' : ''}sh -c 'trap "" HUP; echo $$ > pid; exec sleep 300' &`
    const result = await fx.executor.run({
      jobId: 'l1',
      spec: spec('leftover', [stage('s', [['daemon', `${daemon} while [ ! -s pid ]; do sleep 0.05; done`]])]),
      params: {}
    })
    expect(result.outcome).toBe('succeeded')
    const [pid] = await pidsIn('leftover', 'pid')
    expect(alive(pid)).toBe(false)
  })

  it(`contains the job in ${mode === 'cgroup' ? 'a cgroup of its own, removed afterwards' : 'no cgroup, with ulimit -u as the process bound'}`, async () => {
    const result = await fx.executor.run({
      jobId: 'g1',
      spec: spec('groups', [stage('s', [['where', 'cat /proc/self/cgroup > cgroup; ulimit -u > nproc']])]),
      params: {}
    })
    expect(result.outcome).toBe('succeeded')
    const lines = (await readFile(join(fx.workspaces, 'groups', 'cgroup'), 'utf8')).split('\n')
    const pidsLine = lines.find(l => /^\d+:pids:/.test(l))
    const nproc = (await readFile(join(fx.workspaces, 'groups', 'nproc'), 'utf8')).trim()
    if (mode === 'cgroup' && pidsLine !== undefined) {
      const path = pidsLine.split(':')[2]
      expect(path).toMatch(/\/cit-\d+-[0-9a-f]{16}$/)
      expect(existsSync(join('/sys/fs/cgroup/pids', path))).toBe(false)
      expect(nproc).not.toBe(String(DEFAULT_LIMITS.maxProcesses))
    } else {
      expect(lines.join('\n')).not.toMatch(/cit-\d+-[0-9a-f]{16}/)
      expect(nproc).toBe(String(DEFAULT_LIMITS.maxProcesses))
    }
  })
})
