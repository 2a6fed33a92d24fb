/**
 * The builder side of Nix jobs. The daemon, not the job's sandbox, talks to Nix: a sandboxed
 * build user could not write a single-user store, and a job must never be handed the store's
 * keys. So a Nix job does not go through the executor's terminal at all: the daemon imports the
 * derivation's closure (fetched by hash from whoever holds it), runs `nix-store --realise` (the
 * builder processes are Nix's own, in Nix's own sandbox where it has one), records what Nix
 * prints as the job's asciicast log, and exports each output's closure into the content store.
 * Every other job goes to the executor unchanged.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_COLS, DEFAULT_ROWS, TERM_NAME } from '../executor/constants.js'
import { Recorder } from '../executor/recorder.js'
import { exportClosure, importClosure } from './closures.js'
import type { NixTool } from './tool.js'
import type { NixOutput, NixResult } from '../../protocols/job/records.js'
import type { NixSpec } from '../../protocols/job/types.js'
import type { Outcome, RunRequest, RunResult } from '../executor/types.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'

/** a run's result with what a Nix job adds */
export type NixRunResult = RunResult & { nix?: NixResult }

export interface NixBuildsComponents {
  /** runs every job that is not a Nix job */
  inner: { run: (req: RunRequest) => Promise<RunResult> }
  tool: NixTool
  blobs: BlobStore
  /** make a blob local, fetched from the members that hold it */
  ensureLocal: (hash: string, options: { signal?: AbortSignal }) => Promise<unknown>
  logger: Logger
}

export interface NixBuildsInit {
  /** where exports and recordings are written before the blob store takes them (same filesystem as the store) */
  tmpDir: string
}

interface Stop { outcome: Exclude<Outcome, 'succeeded'>, reason: string }

/** Runs Nix jobs in the daemon and hands every other job to the executor. */
export class NixBuilds {
  constructor (private readonly c: NixBuildsComponents, private readonly init: NixBuildsInit) {}

  async run (req: RunRequest): Promise<NixRunResult> {
    if (req.spec.nix == null) return await this.c.inner.run(req)
    return await this.build(req, req.spec.nix)
  }

  private async build (req: RunRequest, nix: NixSpec): Promise<NixRunResult> {
    const started = performance.now()
    await mkdir(this.init.tmpDir, { recursive: true })
    const castPath = join(this.init.tmpDir, `${randomUUID()}.cast`)
    const rec = new Recorder(castPath, {
      width: DEFAULT_COLS, height: DEFAULT_ROWS, timestamp: Math.floor(Date.now() / 1000), title: req.spec.name, env: { TERM: TERM_NAME, SHELL: '/bin/sh' }
    })
    const decoder = new TextDecoder()
    // Nix prints plain lines; a terminal (and the recording's players) want CR LF
    const say = (text: string): void => {
      const t = text.replace(/\r?\n/g, '\r\n')
      if (t === '') return
      rec.output(t)
      try {
        const data = Buffer.from(t)
        req.onRawOutput?.(data, false)
        req.onOutput?.(data)
      } catch (err) { this.c.logger.warn('an output listener threw', { job: req.jobId, err }) }
    }
    // set from timers and listeners: read through the object so the compiler does not narrow it
    const state: { stop?: Stop } = {}
    const controller = new AbortController()
    const halt = (s: Stop): void => { state.stop ??= s; controller.abort(new Error(s.reason)) }
    const checkStopped = (): void => { if (state.stop != null) throw new Error(state.stop.reason) }
    const onAbort = (): void => { halt({ outcome: 'cancelled', reason: cancelReason(req.signal) }) }
    req.signal?.addEventListener('abort', onAbort, { once: true })
    if (req.signal?.aborted === true) onAbort()
    const timeoutMs = req.timeoutMs ?? req.spec.timeoutMs
    const timer = setTimeout(() => { halt({ outcome: 'timed-out', reason: `timed out after ${timeoutMs} ms` }) }, timeoutMs)
    const signal = controller.signal
    let outcome: Outcome = 'failed'
    let exitCode: number | null = null
    let reason: string | undefined
    let outputs: NixOutput[] = []
    try {
      rec.marker('nix: derivation')
      await this.prepare(nix, say, signal)
      rec.marker('nix: realise')
      say(`cit: nix-store --realise ${nix.drv}\n`)
      const r = await this.c.tool.realise(nix.drv, { signal, onOutput: chunk => { say(decoder.decode(chunk, { stream: true })) } })
      say(decoder.decode())
      checkStopped()
      exitCode = r.code
      if (r.code !== 0) {
        reason = `nix-store --realise exited with ${String(r.code)}`
      } else {
        rec.marker('nix: export')
        outputs = await this.exportOutputs(nix.drv, say, signal)
        checkStopped()
        outcome = 'succeeded'
      }
    } catch (err: any) {
      outputs = []
      reason = state.stop?.reason ?? String(err?.message ?? err)
      if (state.stop == null) say(`cit: ${reason}\n`)
      this.c.logger.info('nix job did not succeed', { job: req.jobId, reason })
    } finally {
      clearTimeout(timer)
      req.signal?.removeEventListener('abort', onAbort)
    }
    const stop = state.stop
    if (stop != null) { outcome = stop.outcome; exitCode = null; reason = stop.reason; outputs = [] }
    rec.marker(`cit: ${outcome}${reason != null ? `: ${reason}` : ''}`)
    try {
      await rec.close()
      const log = await this.c.blobs.adoptFile(castPath)
      const usage = { wallMs: Math.round(performance.now() - started), cpuMs: 0, maxRssBytes: 0 }
      return { outcome, exitCode: outcome === 'succeeded' ? 0 : exitCode, reason, usage, log: log.hash, artefacts: [], nix: { drv: nix.drv, outputs } }
    } finally {
      await unlink(castPath).catch(() => {})
    }
  }

  /** make the derivation valid here: import its closure (fetched by hash) unless the store has it */
  private async prepare (nix: NixSpec, say: (t: string) => void, signal: AbortSignal): Promise<void> {
    if (await this.c.tool.isValid(nix.drv, { signal })) {
      say(`cit: ${nix.drv} is in the local store\n`)
      return
    }
    say(`cit: fetching the derivation's closure ${nix.closure}\n`)
    await this.c.ensureLocal(nix.closure, { signal })
    const paths = await importClosure(this.c.tool, this.c.blobs, nix.closure, [nix.drv], { signal })
    say(`cit: imported ${paths.length} store path${paths.length === 1 ? '' : 's'}\n`)
  }

  /** each output's NAR hash, and its closure exported into the content store */
  private async exportOutputs (drv: string, say: (t: string) => void, signal: AbortSignal): Promise<NixOutput[]> {
    const outputs: NixOutput[] = []
    for (const { name, path } of await this.c.tool.outputsOf(drv, { signal })) {
      const narHash = await this.c.tool.narHash(path, { signal })
      const blob = await exportClosure(this.c.tool, this.c.blobs, [path], this.init.tmpDir, { signal })
      say(`cit: output ${name} ${path} ${narHash}: closure of ${blob.paths.length} path${blob.paths.length === 1 ? '' : 's'}, ${blob.size} bytes, sha256 ${blob.hash}\n`)
      outputs.push({ name, path, narHash, closure: blob.hash })
    }
    return outputs
  }
}

function cancelReason (signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason
  if (reason instanceof Error && reason.message !== '' && reason.name !== 'AbortError') return `cancelled: ${reason.message}`
  return 'cancelled'
}
