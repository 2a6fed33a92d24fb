/**
 * The Executor with a real Sandbox (the tests run as root: build users, bubblewrap, nsenter).
 * What a job sees and may do, and that the executor's containment (timeout, cancel, limits,
 * background processes, hooks, keys from attach) works the same inside a sandbox.
 */
import { createServer } from 'node:net'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BuildUsers, Sandbox } from '../../../../node/executor/sandbox/index.js'
import { makeFixture, readCast, spec, stage } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import { Executor } from '../../../../node/executor/index.js'
import { findStepLauncher } from '../../../../node/executor/step-launcher.js'
import type { RunRequest } from '../../../../node/executor/index.js'
import type { AddressInfo } from 'node:net'
import { waitFor } from '../../../helpers/wait.js'

/** host pids of live processes whose command line holds `marker` */
function procsWith (marker: string): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) out.push(Number(name))
    } catch {}
  }
  return out
}

/** a number no other test's `sleep` uses: a marker that shows in the sleeper's own command line */
const tag = (): string => `3${String(process.pid).padStart(7, '0')}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`

/** host pids of `sleep` processes started with `tag` in their argument */
const sleepers = (t: string): number[] => procsWith(t).filter(pid => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0')
  } catch {
    return false
  }
})

/** bubblewrap processes this process started (live ones) */
function bwrapChildren (): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (f[0] !== 'Z' && Number(f[1]) === process.pid && stat.includes('(bwrap)')) out.push(Number(name))
    } catch {}
  }
  return out
}

/** the real uid of a host process */
const uidOf = (pid: number): number | undefined => {
  try {
    return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])
  } catch {
    return undefined
  }
}

describe('Executor in a sandbox', () => {
  let fx: Fixture
  let sandbox: Sandbox
  beforeAll(async () => {
    fx = await makeFixture()
    // the fixture's directory plays the node's home
    sandbox = new Sandbox({}, { home: fx.dir, scratchDir: join(fx.workspaces, '.tmp') })
    await sandbox.start()
    fx.executor = new Executor({ blobs: fx.blobs, sandbox }, { workspacesDir: fx.workspaces, graceMs: 500 })
  })
  afterAll(async () => { await fx?.cleanup() })

  const run = async (name: string, steps: Array<[string, string]>, extra: Partial<RunRequest['spec']> = {}, req: Partial<RunRequest> = {}): Promise<{ result: Awaited<ReturnType<Fixture['executor']['run']>>, out: string }> => {
    const result = await fx.executor.run({ jobId: `${name}-${Math.random()}`, spec: spec(name, [stage('s', steps)], { timeoutMs: 20_000, ...extra }), params: {}, ...req })
    return { result, out: (await readCast(fx.blobs, result.log)).output }
  }

  it('the probe passed: isolation sandbox with build users', () => {
    expect(sandbox.isolation).toBe('sandbox')
    expect(sandbox.detail).toContain('build users')
  })

  it('runs as a build user at /workspace with its own HOME and /tmp; the home does not exist', async () => {
    const { result, out } = await run('whoami', [
      ['who', `echo "uid=$(id -u) user=$USER home=$HOME ws=$CIT_WORKSPACE pwd=$(pwd) PWD=$PWD tmp=$TMPDIR"; ls -A /tmp | wc -l; test -e ${fx.dir} && echo HOME-VISIBLE; env | grep -c -F '${fx.dir}'; echo shared > /tmp/between`],
      ['next', 'cat /tmp/between']
    ])
    expect(result.outcome, out).toBe('succeeded')
    const m = /uid=(\d+) user=(\S+) home=(\S+) ws=(\S+) pwd=(\S+) PWD=(\S+) tmp=(\S+)/.exec(out)!
    expect(Number(m[1])).toBeGreaterThan(0)
    expect(m[2]).toMatch(/^cit-build-\d+$/)
    expect(m.slice(3, 7)).toEqual(['/workspace', '/workspace', '/workspace', '/workspace'])
    expect(m[7]).toBe('/tmp')
    expect(out).toMatch(/\r\n0\r\n0\r\nshared/)
    expect(out).not.toContain('HOME-VISIBLE')
    // the workspace on the host belongs to that build user
    expect((await stat(fx.executor.workspaceOf('whoami'))).uid).toBe(Number(m[1]))
  })

  it('a second run of the same name finds what the first left', async () => {
    expect((await run('persist', [['one', 'echo from-run-1 > kept.txt']])).result.outcome).toBe('succeeded')
    const { result, out } = await run('persist', [['two', 'cat kept.txt']])
    expect(result.outcome).toBe('succeeded')
    expect(out).toContain('from-run-1')
  })

  it('the job\'s processes run with a non-root uid outside too, and background processes live until the job ends', async () => {
    const t = tag()
    const job = run('background', [
      // a service a step leaves behind (it must ignore the SIGHUP its step's terminal session ends with)
      ['start', `trap '' HUP; sleep ${t}.1 > /dev/null 2>&1 < /dev/null &`],
      ['later', `sleep 1; ps -eo args | grep -c '^sleep ${t}'`]
    ])
    const pids = await waitFor(() => { const p = sleepers(t); return p.length > 0 ? p : undefined })
    for (const pid of pids) expect(uidOf(pid)).not.toBe(0)
    const { result, out } = await job
    expect(result.outcome).toBe('succeeded')
    // step 2 saw step 1's background process; nothing of it outlived the job
    expect(out.trim()).toBe('1')
    expect(procsWith(t)).toEqual([])
  })

  it('a timeout kills the whole tree, new sessions included, and the onFailure hook is told why', async () => {
    const t = tag()
    const job = run('timeout', [
      ['spawn', `sleep ${t}.1 & setsid sleep ${t}.2 & (sleep ${t}.3 &) ; sleep ${t}.4`]
    ], { timeoutMs: 1500, onFailure: 'echo "final=$CIT_JOB_OUTCOME"' })
    await waitFor(() => sleepers(t).length === 4 || undefined)
    const { result, out } = await job
    expect(result.outcome).toBe('timed-out')
    expect(out).toContain('final=timed-out')
    expect(procsWith(t)).toEqual([])
  })

  it('cancel stops a sandboxed job and leaves nothing running', async () => {
    const t = tag()
    const controller = new AbortController()
    const job = run('cancel', [['wait', `sleep ${t}`]], {}, { signal: controller.signal })
    await waitFor(() => sleepers(t).length > 0 || undefined)
    controller.abort(new Error('enough'))
    const { result } = await job
    expect(result.outcome).toBe('cancelled')
    expect(procsWith(t)).toEqual([])
  })

  it('the limits hold inside: processes (pids cgroup), file size, output', async () => {
    const limited = new Executor({ blobs: fx.blobs, sandbox }, { workspacesDir: fx.workspaces, graceMs: 200, limits: { maxProcesses: 40, maxFileBytes: 1024 * 1024, maxOutputBytes: 200_000 } })
    const procs = await limited.run({ jobId: 'lim-1', spec: spec('limits', [stage('s', [['many', 'for i in $(seq 80); do sleep 5 & done; wait']])], { timeoutMs: 20_000 }), params: {} })
    expect(procs.limitsHit).toContain('processes')
    const big = await limited.run({ jobId: 'lim-2', spec: spec('limits', [stage('s', [['big', 'head -c 2000000 /dev/zero > big.bin']])]), params: {} })
    expect(big.outcome).toBe('failed')
    expect(big.exitCode).toBe(153)
    const loud = await limited.run({ jobId: 'lim-3', spec: spec('limits', [stage('s', [['loud', 'yes']])]), params: {} })
    expect(loud.outcome).toBe('failed')
    expect(loud.limitsHit).toContain('output')
  })

  it('keys typed into the job\'s terminal reach the sandboxed command', async () => {
    const jobId = `typed-${Date.now()}`
    const job = run('typed', [['read', 'echo ready; read line; echo "got:$line"']], { timeoutMs: 10_000 }, { jobId })
    await waitFor(() => {
      try { return fx.executor.write(jobId, 'hello\r') } catch { return false }
    })
    const { result, out } = await job
    expect(result.outcome).toBe('succeeded')
    expect(out).toContain('got:hello')
  })

  it('network: none cuts the job off from a listener on 127.0.0.1; without it the job reaches it', async () => {
    let connections = 0
    const server = createServer(socket => { connections++; socket.on('error', () => {}); socket.end('hi\n') })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      const connect = `exec 3<>/dev/tcp/127.0.0.1/${port} && echo CONNECTED || echo REFUSED`
      const cut = await run('net-none', [['try', connect]], { network: 'none' })
      expect(cut.out).toContain('REFUSED')
      expect(connections).toBe(0)
      const open = await run('net-host', [['try', connect]])
      expect(open.out).toContain('CONNECTED')
      expect(connections).toBe(1)
    } finally {
      server.close()
    }
  })

  it('other workspaces and the node\'s other files are out of reach', async () => {
    const other = fx.executor.workspaceOf('someone-else')
    await mkdir(other, { recursive: true })
    await writeFile(join(other, 'secret.txt'), 'theirs')
    const { out } = await run('nosy', [['look', `cat ${other}/secret.txt; ls ${fx.workspaces}; touch ${other}/mine; echo done`]])
    expect(out).not.toContain('theirs')
    expect(out).toContain('No such file or directory')
    await expect(stat(join(other, 'mine'))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

/** the lines of /proc/self/status a step's credentials are read from */
const CREDENTIALS = "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status"

describe.each([
  { start: 'the step launcher', stepLauncher: findStepLauncher() },
  { start: 'the shell wrapper (nsenter, setpriv)', stepLauncher: false as const }
])('A sandboxed step started by $start', ({ stepLauncher }) => {
  let fx: Fixture
  let sandbox: Sandbox
  beforeAll(async () => {
    fx = await makeFixture()
    sandbox = new Sandbox({}, { home: fx.dir, scratchDir: join(fx.workspaces, '.tmp'), stepLauncher })
    await sandbox.start()
    fx.executor = new Executor({ blobs: fx.blobs, sandbox }, { workspacesDir: fx.workspaces, graceMs: 500, stepLauncher, limits: { maxFileBytes: 512 * 1000 } })
  })
  afterAll(async () => { await fx?.cleanup() })

  it('holds no capability, has no_new_privs, its build user and group alone, the workspace, the limits, no output processing', async () => {
    expect(sandbox.isolation, sandbox.detail).toBe('sandbox')
    const result = await fx.executor.run({
      jobId: `creds-${Math.random()}`,
      spec: spec('creds', [stage('s', [['creds', `${CREDENTIALS}; echo "cwd=$(pwd -P)"; echo "fsize=$(ulimit -f)"; stty -a | tr ' ' '\\n' | grep -x -e -opost -e opost; echo last`]])]),
      params: {}
    })
    const out = (await readCast(fx.blobs, result.log)).output
    expect(result.outcome, out).toBe('succeeded')
    const field = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'm').exec(out.replaceAll('\r', ''))?.[1] ?? `${name} missing`
    const uid = (await stat(fx.executor.workspaceOf('creds'))).uid
    expect(uid).toBeGreaterThan(0)
    expect(field('Uid').split(/\s+/)).toEqual([String(uid), String(uid), String(uid), String(uid)])
    const gid = field('Gid').split(/\s+/)
    expect(new Set(gid).size).toBe(1)
    expect(Number(gid[0])).toBeGreaterThan(0)
    expect(field('Groups')).toBe('')
    for (const caps of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(field(caps), caps).toBe('0000000000000000')
    expect(field('NoNewPrivs')).toBe('1')
    expect(out).toContain('cwd=/workspace\r\n')
    // bash counts in KiB: 512 000 bytes
    expect(out).toContain('fsize=500\r\n')
    // the output ends with the step's own last line, the executor's translation done once
    expect(out).toMatch(/\r\n-opost\r\nlast\r\n$/)
  })

  it('reports a step\'s exit status, and a signal as 128 + n', async () => {
    const seven = await fx.executor.run({ jobId: `st-${Math.random()}`, spec: spec('status', [stage('s', [['seven', 'exit 7']])]), params: {} })
    expect(seven.exitCode).toBe(7)
    const usr1 = await fx.executor.run({ jobId: `st-${Math.random()}`, spec: spec('status', [stage('s', [['usr1', 'kill -USR1 $$']])]), params: {} })
    expect(usr1.exitCode).toBe(128 + 10)
  })
})

describe('Sandbox start: when there is no sandbox, it says why', () => {
  let fx: Fixture
  beforeAll(async () => { fx = await makeFixture() })
  afterAll(async () => { await fx.cleanup() })
  const sandboxWith = (init: Partial<ConstructorParameters<typeof Sandbox>[1]>): Sandbox => new Sandbox({}, { home: fx.dir, scratchDir: join(fx.workspaces, '.tmp'), ...init })

  it('turned off by config', async () => {
    const s = sandboxWith({ enabled: false })
    await s.start()
    expect(s.isolation).toBe('none')
    expect(s.detail).toContain('sandbox.enabled')
  })

  it('bubblewrap missing, or failing its probe', async () => {
    const missing = sandboxWith({ programs: { bwrap: '/nonexistent/bwrap' } })
    await missing.start()
    expect(missing.isolation).toBe('none')
    expect(missing.detail).toContain('bubblewrap')
    const broken = sandboxWith({ programs: { bwrap: '/bin/false' } })
    await broken.start()
    expect(broken.isolation).toBe('none')
    expect(broken.detail).toContain('probe failed')
  })

  it('a job asking for network: none fails on a node without a sandbox, before anything runs', async () => {
    const s = sandboxWith({ enabled: false })
    await s.start()
    const ex = new Executor({ blobs: fx.blobs, sandbox: s }, { workspacesDir: fx.workspaces })
    const r = await ex.run({ jobId: 'n1', spec: spec('cut', [stage('s', [['x', 'echo ran > ran.txt']])], { network: 'none' }), params: {} })
    expect(r.outcome).toBe('failed')
    expect(r.reason).toContain('network: none needs a sandbox')
    await expect(stat(join(fx.workspaces, 'cut', 'ran.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('a sandbox that cannot be set up fails the run; nothing runs unsandboxed', async () => {
    const s = sandboxWith({})
    await s.start()
    s.open = async () => { throw Object.assign(new Error('could not set up the job\'s sandbox: test'), { code: 'ERR_SANDBOX_FAILED' }) }
    const ex = new Executor({ blobs: fx.blobs, sandbox: s }, { workspacesDir: fx.workspaces })
    const r = await ex.run({ jobId: 'b1', spec: spec('broken', [stage('s', [['x', 'echo ran > ran.txt']])]), params: {} })
    expect(r.outcome).toBe('failed')
    expect(r.reason).toContain('could not set up')
    await expect(stat(join(fx.workspaces, 'broken', 'ran.txt'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('a build user that cannot be had fails the open and stops the holder started meanwhile', async () => {
    const users = new BuildUsers()
    const s = new Sandbox({ users }, { home: fx.dir, scratchDir: join(fx.workspaces, '.tmp') })
    await s.start()
    expect(s.isolation).toBe('sandbox')
    // bubblewrap starts alongside the user's lease: fail the lease once the holder is up
    users.acquire = async () => {
      await waitFor(() => bwrapChildren().length > 0 || undefined, { what: 'the holder' })
      throw new Error('no build user left')
    }
    const workspace = join(fx.workspaces, 'no-user')
    await mkdir(workspace, { recursive: true })
    await expect(s.open({ workspace, network: 'host' })).rejects.toThrow('no build user left')
    expect(bwrapChildren()).toEqual([])
  })

  it('refuses a read-only path in the node\'s home (config error, by its path)', () => {
    expect(() => sandboxWith({ readOnlyPaths: ['/usr/share', join(fx.dir, 'identity.key')] })).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_INPUT',
      problems: [expect.objectContaining({ path: 'sandbox.readOnlyPaths[1]' })]
    }))
  })

  it('a job\'s environment names nothing in the home', () => {
    const s = sandboxWith({})
    expect(s.jobEnv({ A: 'fine', B: `${fx.dir}/x`, PATH: `/usr/bin:${fx.dir}/bin` })).toEqual({ A: 'fine', GIT_CONFIG_SYSTEM: '/.cit/gitconfig' })
  })
})
