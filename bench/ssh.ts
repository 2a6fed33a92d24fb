/**
 * OpenSSH on a loopback port with throwaway keys: the baselines for artefact fetch (scp) and for
 * attach (a keystroke's echo through `ssh -tt`). Nothing outside a temp dir is touched, except that
 * openssh may be installed with apt-get when it is missing and the bench runs as root.
 */
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { freePort } from './ports.js'
import { pollUntil, runCommand } from './procs.js'
import { APT_TIMEOUT_MS, ECHO_TIMEOUT_MS, SCP_TIMEOUT_MS } from './constants.js'
import type { Registry } from './procs.js'

const SSHD_CANDIDATES = ['/usr/sbin/sshd', '/usr/bin/sshd', '/usr/local/sbin/sshd']

function findSshd (): string | undefined {
  return SSHD_CANDIDATES.find(p => existsSync(p))
}

async function haveCommand (registry: Registry, name: string): Promise<boolean> {
  const r = await runCommand(registry, '/bin/sh', ['-c', `command -v ${name}`], { timeoutMs: 5000 })
  return r.code === 0
}

/** A running sshd of the bench's own, and the client options that reach it. */
export class LoopbackSsh {
  private constructor (readonly dir: string, readonly port: number, readonly user: string, private readonly pid: number) {}

  /** ssh/scp options: the throwaway key, no host key checks, no prompts */
  get options (): string[] {
    return ['-i', join(this.dir, 'client'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'IdentitiesOnly=yes']
  }

  get target (): string { return `${this.user}@127.0.0.1` }

  /**
   * Start sshd (installing openssh first if it is missing, we are root, and apt-get exists).
   * Resolves with a reason instead when that is not possible.
   */
  static async start (registry: Registry, log: (line: string) => void): Promise<LoopbackSsh | string> {
    let sshd = findSshd()
    const root = process.getuid?.() === 0
    if (sshd == null || !(await haveCommand(registry, 'scp')) || !(await haveCommand(registry, 'ssh-keygen'))) {
      if (!root) return 'openssh-server is not installed and the bench is not running as root: ssh baselines skipped'
      if (!(await haveCommand(registry, 'apt-get'))) return 'openssh-server is not installed and apt-get is not available: ssh baselines skipped'
      log('installing openssh-server and openssh-client with apt-get (they were missing)')
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
      let r = await runCommand(registry, 'apt-get', ['install', '-y', '--no-install-recommends', 'openssh-server', 'openssh-client'], { timeoutMs: APT_TIMEOUT_MS, env })
      if (r.code !== 0) {
        await runCommand(registry, 'apt-get', ['update'], { timeoutMs: APT_TIMEOUT_MS, env })
        r = await runCommand(registry, 'apt-get', ['install', '-y', '--no-install-recommends', 'openssh-server', 'openssh-client'], { timeoutMs: APT_TIMEOUT_MS, env })
      }
      sshd = findSshd()
      if (r.code !== 0 || sshd == null) return `installing openssh-server failed: ${r.stderr.trim().split('\n').slice(-1)[0] ?? r.code}`
    }
    const dir = registry.tempDir('cb-ssh-')
    for (const name of ['client', 'host']) {
      const k = await runCommand(registry, 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)], { timeoutMs: 20_000 })
      if (k.code !== 0) return `ssh-keygen failed: ${k.stderr.trim()}`
    }
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')), { mode: 0o600 })
    const port = await freePort()
    const user = userInfo().username
    writeFileSync(join(dir, 'sshd_config'), [
      `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
      'UsePAM no', 'StrictModes no', `AllowUsers ${user}`, ...(root ? ['PermitRootLogin prohibit-password'] : []),
      'Subsystem sftp internal-sftp', 'LogLevel ERROR', ''
    ].join('\n'), { mode: 0o600 })
    // sshd refuses to start without its privilege separation directory
    if (root) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
    const child = registry.spawn('sshd', sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
    const ssh = new LoopbackSsh(dir, port, user, child.pid!)
    try {
      await pollUntil(async () => await new Promise<boolean>(resolve => {
        if (child.exitCode != null) { resolve(false); return }
        const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
        s.on('error', () => { resolve(false) })
      }), { timeoutMs: 10_000, intervalMs: 50, what: 'sshd to listen' })
      const probe = await runCommand(registry, 'ssh', [...ssh.options, '-p', String(port), ssh.target, 'true'], { timeoutMs: 20_000 })
      if (probe.code !== 0) throw new Error(`ssh to the loopback sshd failed: ${probe.stderr.trim()}`)
    } catch (e: any) {
      await registry.stop(child.pid!, 2000)
      return `sshd did not come up: ${String(e?.message ?? e)} ${err.trim()}`
    }
    return ssh
  }

  async stop (registry: Registry): Promise<void> {
    await registry.stop(this.pid, 2000)
    registry.removeDir(this.dir)
  }

  /** MB/s of `scp` (default cipher) copying `file` to `dest` over loopback */
  async scp (registry: Registry, file: string, dest: string, size: number): Promise<number> {
    const r = await runCommand(registry, 'scp', [...this.options, '-q', '-P', String(this.port), file, `${this.target}:${dest}`], { timeoutMs: SCP_TIMEOUT_MS })
    if (r.code !== 0) throw new Error(`scp failed: ${r.stderr.trim()}`)
    return size / 1e6 / (r.ms / 1000)
  }

  /**
   * ms from writing one key to `ssh -tt` (remote `cat` in a pty) until its echo comes back,
   * `n` times, one at a time (sorted).
   */
  async echo (registry: Registry, n: number, signal?: AbortSignal): Promise<number[]> {
    const child = registry.spawn('ssh -tt', 'ssh', [...this.options, '-tt', '-p', String(this.port), this.target, `echo ${READY}; exec cat`], { stdio: ['pipe', 'pipe', 'pipe'] })
    try {
      return await echoSamples(child.stdin!, child.stdout!, n, signal)
    } finally {
      await registry.stop(child.pid!, 2000)
    }
  }
}

/** printed by the far side once it runs; keys are timed only after it (it holds no `x`) */
export const READY = 'bench-ready'
/** how long the far side may take to print READY */
const READY_TIMEOUT_MS = 20_000

/**
 * Keystroke round trips on any terminal stream pair: once READY has arrived, writes `x` and waits
 * for an `x` to come back (the terminal's echo), `n` times, one at a time; sorted.
 */
export async function echoSamples (input: { write: (s: string) => unknown }, output: NodeJS.EventEmitter, n: number, signal?: AbortSignal): Promise<number[]> {
  let seen = 0
  let text = ''
  let waiting: (() => void) | undefined
  output.on('data', (d: Buffer | string) => {
    const s = d.toString()
    if (text.length < 1 << 16) text += s
    seen += s.split('x').length - 1
    waiting?.()
  })
  const until = async (done: () => boolean, timeoutMs: number, what: string): Promise<void> => {
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { waiting = undefined; reject(new Error(`no ${what} within ${timeoutMs} ms`)) }, timeoutMs)
      waiting = () => { if (done()) { clearTimeout(timer); waiting = undefined; resolve() } }
      waiting()
    })
  }
  await until(() => text.includes(READY), READY_TIMEOUT_MS, `"${READY}" from the far side`)
  seen = 0
  const samples: number[] = []
  // a canonical-mode line holds 4095 characters: stay well under it
  for (let i = 0; i < Math.min(n, 2000); i++) {
    const target = seen + 1
    const started = performance.now()
    input.write('x')
    await until(() => seen >= target, ECHO_TIMEOUT_MS, 'echo')
    samples.push(performance.now() - started)
  }
  return samples.sort((a, b) => a - b)
}
