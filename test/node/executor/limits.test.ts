import { readFile, stat } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { detectCgroups } from '../../../node/executor/cgroup-detect.js'
import { makeFixture, readCast, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'

const support = await detectCgroups()
const pidsCgroup = support.mode === 'v2' || (support.mode === 'v1' && support.parents.pids !== undefined)
const cpuAccounting = support.mode === 'v2' || (support.mode === 'v1' && support.parents.cpuacct !== undefined)

// a bash loop that keeps one core busy for a few hundred ms
const BUSY = 'i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done'

describe('Executor: limits and usage', () => {
  let fx: Fixture | undefined
  afterEach(async () => { await fx?.cleanup(); fx = undefined })

  it('fails a job whose output goes over the limit, and records no more than the limit', async () => {
    fx = await makeFixture({ limits: { maxOutputBytes: 10_000 } })
    let live = 0
    const result = await fx.executor.run({
      jobId: 'o1',
      spec: spec('chatty', [stage('s', [['yes', 'yes']])], { timeoutMs: 20_000 }),
      params: {},
      onOutput: data => { live += data.length }
    })
    expect(result.outcome).toBe('failed')
    expect(result.exitCode).toBeNull()
    expect(result.reason).toMatch(/output went over the limit of 10000 bytes/)
    expect(result.limitsHit).toContain('output')
    const cast = await readCast(fx.blobs, result.log)
    expect(Buffer.byteLength(cast.output)).toBe(10_000)
    expect(cast.output.startsWith('y\r\ny\r\n')).toBe(true)
    expect(live).toBe(10_000)
  })

  it('stops a process writing a file past the file-size limit (RLIMIT_FSIZE)', async () => {
    fx = await makeFixture({ limits: { maxFileBytes: 64 * 1024 } })
    const result = await fx.executor.run({
      jobId: 'f1',
      spec: spec('bigfile', [stage('s', [['write', 'head -c 1000000 /dev/zero > big']])]),
      params: {}
    })
    expect(result.outcome).toBe('failed')
    expect(result.exitCode).toBe(128 + 25) // SIGXFSZ
    expect((await stat(join(fx.workspaces, 'bigfile', 'big'))).size).toBe(64 * 1024)
  })

  it.runIf(pidsCgroup)('contains a fork bomb with the pids cgroup; the node stays responsive; all is killed', async () => {
    fx = await makeFixture({ limits: { maxProcesses: 64 } })
    let worstLagMs = 0
    let last = performance.now()
    const ticker = setInterval(() => {
      const now = performance.now()
      worstLagMs = Math.max(worstLagMs, now - last - 50)
      last = now
    }, 50)
    let result
    try {
      result = await fx.executor.run({
        jobId: 'bomb',
        spec: spec('forkbomb', [stage('s', [['bomb', "grep -E '^[0-9]+:pids:' /proc/self/cgroup > cg; :(){ :|:& };:; sleep 300"]])], { timeoutMs: 3000 }),
        params: {}
      })
    } finally {
      clearInterval(ticker)
    }
    expect(result.outcome).toBe('timed-out')
    expect(result.limitsHit).toContain('processes')
    expect(worstLagMs).toBeLessThan(1000)
    // the group is removed, which the kernel allows only once no process is left in it
    const path = (await readFile(join(fx.workspaces, 'forkbomb', 'cg'), 'utf8')).trim().split(':')[2]
    expect(path).toMatch(/cit-\d+-[0-9a-f]{16}$/)
    expect(existsSync(join('/sys/fs/cgroup/pids', path))).toBe(false)
  })

  // the path of a machine without a pids cgroup, taken on every machine by turning cgroups off
  it('bounds processes with ulimit -u when cgroups are turned off (or there is no pids cgroup)', async () => {
    fx = await makeFixture({ cgroups: false, limits: { maxProcesses: 77 } })
    const result = await fx.executor.run({ jobId: 'n2', spec: spec('nproc', [stage('s', [['u', 'ulimit -u > n']])]), params: {} })
    expect(result.outcome).toBe('succeeded')
    expect((await readFile(join(fx.workspaces, 'nproc', 'n'), 'utf8')).trim()).toBe('77')
    expect(result.limitsHit).toEqual([])
  })

  it.each([
    { mode: 'cgroup accounting', cgroups: true },
    { mode: '/proc sampling', cgroups: false }
  ])('reports plausible usage ($mode)', async ({ cgroups }) => {
    fx = await makeFixture({ cgroups })
    const result = await fx.executor.run({
      jobId: 'u1',
      spec: spec('usage', [stage('s', [['busy', `${BUSY}; sleep 0.3`]])]),
      params: {}
    })
    expect(result.outcome).toBe('succeeded')
    expect(result.usage.cpuMs).toBeGreaterThan(50)
    expect(result.usage.cpuMs).toBeLessThan(result.usage.wallMs * 2 + 100)
    expect(result.usage.maxRssBytes).toBeGreaterThan(100 * 1024)
    expect(result.usage.wallMs).toBeGreaterThanOrEqual(300)
    if (cgroups && cpuAccounting) {
      // the cgroup counts children too: a busy child of the step is included
      const child = await fx.executor.run({
        jobId: 'u2', spec: spec('usage', [stage('s', [['busy child', `sh -c '${BUSY.replace(/\$\(\(i\+1\)\)/, '$((i+1))')}'`]])]), params: {}
      })
      expect(child.usage.cpuMs).toBeGreaterThan(50)
    }
  })
})

const memoryCgroup = support.mode === 'v2' || (support.mode === 'v1' && support.parents.memory !== undefined)

describe('Executor: memory limit', () => {
  it.runIf(memoryCgroup)('kills a job going over its memory limit and says so', async () => {
    const fx = await makeFixture({ limits: { maxMemoryBytes: 32 * 1024 * 1024 } })
    try {
      const result = await fx.executor.run({
        jobId: 'm1',
        // bash keeps the whole 100 MB in one variable
        spec: spec('hog', [stage('s', [['hog', "a=$(head -c 100000000 /dev/zero | tr '\\0' x); echo ${#a}"]])]),
        params: {}
      })
      expect(result.outcome).toBe('failed')
      expect(result.exitCode).toBe(128 + 9)
      expect(result.limitsHit).toContain('memory')
      expect(result.usage.maxRssBytes).toBeLessThanOrEqual(32 * 1024 * 1024)
      expect(result.usage.maxRssBytes).toBeGreaterThan(16 * 1024 * 1024)
    } finally {
      await fx.cleanup()
    }
  })
})
