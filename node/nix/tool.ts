/**
 * The Nix commands cit-node uses, run as child processes with argument lists (never a shell),
 * bounded in time and output. Every derivation and store path given here has been checked by
 * the caller (`isStorePath`) so none can pass for an option.
 */
import { spawn } from 'node:child_process'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import {
  MAX_NIX_STDERR_BYTES, MAX_NIX_STDOUT_BYTES, NIX_DAEMON_SOCKET, NIX_EVAL_TIMEOUT_MS, NIX_KILL_GRACE_MS, NIX_QUERY_TIMEOUT_MS,
  NIX_TRANSFER_TIMEOUT_MS
} from './constants.js'
import { NixCommandError, NixEvalError, NixUnavailableError } from './errors.js'
import type { Readable, Writable } from 'node:stream'

export type NixStoreMode = 'auto' | 'daemon' | 'local'

export interface NixToolInit {
  /** `auto` (default): through the Nix daemon when its socket answers, else the local store */
  store?: NixStoreMode
  /** substituters a build may use (default none: nothing comes from outside the mesh) */
  substituters?: string[]
  /** directory of the Nix programs (default: found on PATH) */
  binDir?: string
  /** the daemon's socket (default NIX_DAEMON_SOCKET) */
  daemonSocket?: string
}

interface RunOptions {
  signal?: AbortSignal
  timeoutMs?: number
  /** bytes for the command's stdin */
  input?: AsyncIterable<Uint8Array>
  /** where stdout goes instead of being collected */
  stdoutTo?: Writable
  /** every byte of stderr (and, when stdout is collected, nothing else) as it comes */
  onStderr?: (chunk: Buffer) => void
}

interface RunResult { code: number | null, stdout: string, stderr: string }

/** Runs Nix. One instance per daemon or CLI call; it holds no state besides its settings. */
export class NixTool {
  private readonly store: NixStoreMode
  private readonly substituters: string[]
  private readonly binDir: string | undefined
  private readonly socket: string
  private remote?: Promise<string | undefined>

  constructor (init: NixToolInit = {}) {
    this.store = init.store ?? 'auto'
    this.substituters = init.substituters ?? []
    this.binDir = init.binDir
    this.socket = init.daemonSocket ?? NIX_DAEMON_SOCKET
  }

  /** Nix's version, or undefined when it is not installed or does not run. */
  async version (options: { signal?: AbortSignal } = {}): Promise<string | undefined> {
    try {
      const r = await this.run('nix-store', ['--version'], { ...options, timeoutMs: 10_000 })
      return r.code === 0 ? r.stdout.trim().replace(/^nix-store \(Nix\) /, '') : undefined
    } catch {
      return undefined
    }
  }

  /** Evaluate a `.nix` file; exactly one derivation or ERR_NIX_EVAL with the evaluator's words. */
  async instantiate (file: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const r = await this.run('nix-instantiate', ['--', file], { ...options, timeoutMs: NIX_EVAL_TIMEOUT_MS })
    if (r.code !== 0) throw new NixEvalError(file, r.stderr.trim() !== '' ? r.stderr.trim() : `nix-instantiate exited with ${String(r.code)}`)
    const drvs = r.stdout.split('\n').map(l => l.trim()).filter(l => l !== '')
    if (drvs.length !== 1) throw new NixEvalError(file, `must evaluate to exactly one derivation, not ${drvs.length}`)
    // `nix-instantiate` of something that is not a derivation prints nothing or a non-.drv path
    if (!drvs[0].endsWith('.drv')) throw new NixEvalError(file, `evaluates to ${drvs[0]}, not a derivation`)
    return drvs[0]
  }

  /** whether a store path is valid (present and registered) in the store */
  async isValid (path: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const r = await this.run('nix-store', ['--check-validity', '--', path], { ...options, timeoutMs: NIX_QUERY_TIMEOUT_MS })
    return r.code === 0
  }

  /** the closure of store paths (the paths and everything they refer to), sorted */
  async closureOf (paths: string[], options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const out = await this.query(['--query', '--requisites', '--', ...paths], options)
    return out.split('\n').filter(l => l !== '').sort()
  }

  /** the value of a derivation's environment variable, or undefined when it has none */
  async binding (drv: string, name: string, options: { signal?: AbortSignal } = {}): Promise<string | undefined> {
    const r = await this.run('nix-store', ['--query', '--binding', name, '--', drv], { ...options, timeoutMs: NIX_QUERY_TIMEOUT_MS })
    return r.code === 0 ? r.stdout.replace(/\n$/, '') : undefined
  }

  /** a derivation's outputs by name, as its `outputs` and per-output bindings say */
  async outputsOf (drv: string, options: { signal?: AbortSignal } = {}): Promise<Array<{ name: string, path: string }>> {
    const names = (await this.binding(drv, 'outputs', options))?.split(/\s+/).filter(n => n !== '') ?? ['out']
    const out: Array<{ name: string, path: string }> = []
    for (const name of names) {
      const path = await this.binding(drv, name, options)
      if (path == null || path === '') throw new NixCommandError(`reading output ${name} of ${drv}`, null, 'no such binding')
      out.push({ name, path })
    }
    return out
  }

  /** Nix's NAR hash of a valid path (`sha256:<base32>`) */
  async narHash (path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return (await this.query(['--query', '--hash', '--', path], options)).trim()
  }

  /** write the export of `paths` (`nix-store --export`) to `to` */
  async exportPaths (paths: string[], to: Writable, options: { signal?: AbortSignal } = {}): Promise<void> {
    const r = await this.run('nix-store', ['--export', '--', ...paths], { ...options, timeoutMs: NIX_TRANSFER_TIMEOUT_MS, stdoutTo: to })
    if (r.code !== 0) throw new NixCommandError('nix-store --export', r.code, r.stderr)
  }

  /** import an export (`nix-store --import`); returns the paths it names */
  async importPaths (bytes: AsyncIterable<Uint8Array>, options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const r = await this.run('nix-store', ['--import'], { ...options, timeoutMs: NIX_TRANSFER_TIMEOUT_MS, input: bytes })
    if (r.code !== 0) throw new NixCommandError('nix-store --import', r.code, r.stderr)
    return r.stdout.split('\n').filter(l => l !== '')
  }

  /**
   * Realise a derivation: build it, or find its outputs valid already. Build output (Nix writes
   * it to stderr) goes to `onOutput` as it comes. Resolves with the exit code; never throws for
   * a failing build.
   */
  async realise (drv: string, options: { signal?: AbortSignal, timeoutMs?: number, onOutput: (chunk: Buffer) => void }): Promise<{ code: number | null, paths: string[] }> {
    const args = ['--realise', '--no-gc-warning', '--option', 'substituters', this.substituters.join(' '), '--', drv]
    const r = await this.run('nix-store', args, { signal: options.signal, timeoutMs: options.timeoutMs, onStderr: options.onOutput })
    return { code: r.code, paths: r.stdout.split('\n').filter(l => l !== '') }
  }

  /** `nix-store --generate-binary-cache-key NAME SECRET PUBLIC`: a signing key pair for a binary cache */
  async generateCacheKey (name: string, secretFile: string, publicFile: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const r = await this.run('nix-store', ['--generate-binary-cache-key', name, secretFile, publicFile], { ...options, timeoutMs: NIX_QUERY_TIMEOUT_MS })
    if (r.code !== 0) throw new NixCommandError('nix-store --generate-binary-cache-key', r.code, r.stderr)
  }

  /** remove a path from the store (it must not be in use); for tests and `nix import --replace` */
  async delete (path: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.query(['--delete', '--', path], options)
  }

  private async query (args: string[], options: { signal?: AbortSignal }): Promise<string> {
    const r = await this.run('nix-store', args, { ...options, timeoutMs: NIX_QUERY_TIMEOUT_MS })
    if (r.code !== 0) throw new NixCommandError(`nix-store ${args[0]} ${args[1] ?? ''}`.trim(), r.code, r.stderr)
    return r.stdout
  }

  /** NIX_REMOTE for every command: the daemon when configured or (auto) when its socket answers */
  private async nixRemote (): Promise<string | undefined> {
    if (this.store === 'daemon') return 'daemon'
    if (this.store === 'local') return 'local'
    this.remote ??= socketAnswers(this.socket).then(ok => ok ? 'daemon' : undefined)
    return await this.remote
  }

  private async run (program: string, args: string[], options: RunOptions): Promise<RunResult> {
    const remote = await this.nixRemote()
    const env = { ...process.env }
    if (remote != null) env.NIX_REMOTE = remote
    const file = this.binDir != null ? join(this.binDir, program) : program
    return await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(file, args, { env, stdio: [options.input != null ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      let timer: NodeJS.Timeout | undefined
      let killer: NodeJS.Timeout | undefined
      const stop = (): void => {
        child.kill('SIGTERM')
        killer ??= setTimeout(() => { child.kill('SIGKILL') }, NIX_KILL_GRACE_MS)
      }
      const onAbort = (): void => { stop() }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      if (options.signal?.aborted === true) stop()
      if (options.timeoutMs != null) timer = setTimeout(stop, options.timeoutMs)
      child.on('error', (err: NodeJS.ErrnoException) => {
        cleanup()
        reject(err.code === 'ENOENT' ? new NixUnavailableError(`${program} was not found (install Nix, e.g. Debian's nix-bin)`) : err)
      })
      if (options.stdoutTo != null) (child.stdout as Readable).pipe(options.stdoutTo)
      else child.stdout!.on('data', (d: Buffer) => { if (stdout.length < MAX_NIX_STDOUT_BYTES) stdout += d.toString('utf8') })
      child.stderr!.on('data', (d: Buffer) => {
        options.onStderr?.(d)
        stderr = (stderr + d.toString('utf8')).slice(-MAX_NIX_STDERR_BYTES)
      })
      // a source that fails (a blob that no longer hashes to its name) stops the command, and its
      // error, not the command's, is the answer
      let feedError: unknown
      if (options.input != null) void feed(options.input, child.stdin!).catch(err => { feedError = err; stop() })
      const cleanup = (): void => {
        if (timer != null) clearTimeout(timer)
        if (killer != null) clearTimeout(killer)
        options.signal?.removeEventListener('abort', onAbort)
      }
      child.on('close', code => {
        cleanup()
        if (feedError != null) reject(feedError)
        else resolve({ code, stdout, stderr })
      })
    })
  }
}

/** copy bytes to a child's stdin, honouring back-pressure; a source that throws ends in a kill by the caller */
async function feed (source: AsyncIterable<Uint8Array>, stdin: Writable): Promise<void> {
  stdin.on('error', () => {})
  try {
    for await (const chunk of source) {
      if (!stdin.write(chunk)) await new Promise(resolve => stdin.once('drain', resolve))
    }
    stdin.end()
  } catch (err) {
    stdin.destroy()
    throw err
  }
}

/** whether something accepts connections on a Unix socket (the Nix daemon) */
async function socketAnswers (path: string): Promise<boolean> {
  return await new Promise<boolean>(resolve => {
    const s = createConnection(path)
    const done = (ok: boolean): void => { s.destroy(); resolve(ok) }
    s.once('connect', () => { done(true) })
    s.once('error', () => { done(false) })
    s.setTimeout(1000, () => { done(false) })
  })
}
