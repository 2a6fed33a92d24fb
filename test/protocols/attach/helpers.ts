/**
 * Fixtures of the attach tests: jobs run by a real Executor in real ptys with a LiveOutput each
 * (as the daemon's local runner does), a viewer that collects a session's frames, and a raw
 * client that speaks the wire format by hand (to send what a well-behaved client never would).
 */
import { ATTACH_PROTOCOL, encodeClientFrame, encodeHello, parseReply, parseServerFrame } from '../../../protocols/attach/index.js'
import { FrameReader, encodeFrame } from '../../../protocols/codec/frames.js'
import { LiveOutput } from '../../../node/jobs/live-output.js'
import { makeFixture, spec, stage } from '../../node/executor/helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { AttachEndState, AttachFrame, AttachHello, AttachJobs, AttachReply, AttachSession, ClientFrame, ServerFrame, TerminalSize } from '../../../protocols/attach/index.js'
import type { Fixture } from '../../node/executor/helpers.js'
import type { RunResult } from '../../../node/executor/types.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'
import type { Stream } from '@libp2p/interface'

/** The node's jobs for an AttachService: real runs in real ptys, each with its live output. */
export class RealJobs implements AttachJobs {
  private readonly lives = new Map<string, LiveOutput>()
  private readonly states = new Map<string, AttachEndState>()
  private readonly sizes = new Map<string, TerminalSize>()
  private readonly runs = new Set<Promise<RunResult>>()
  private readonly controllers = new Set<AbortController>()
  private n = 0

  private constructor (readonly fixture: Fixture) {}

  static async create (): Promise<RealJobs> {
    return new RealJobs(await makeFixture())
  }

  /** start a one-step job running `command`; returns its id and the run's result */
  start (command: string, options: { scrollbackBytes?: number } = {}): { id: string, done: Promise<RunResult> } {
    const id = `job-${++this.n}-${Math.random().toString(16).slice(2, 10)}`
    const live = new LiveOutput(options.scrollbackBytes)
    this.lives.set(id, live)
    this.states.set(id, { state: 'running', exitCode: null })
    const controller = new AbortController()
    this.controllers.add(controller)
    const done = this.fixture.executor.run({
      jobId: id,
      spec: spec(id, [stage('main', [['step', command]])]),
      params: {},
      signal: controller.signal,
      // as the runner does: the bytes as read, translated by the live output for its viewers
      onRawOutput: (data, onlcr) => { live.push(data, onlcr) }
    }).then(result => {
      // as the local runner does: the final state is recorded before the live output ends
      this.states.set(id, { state: result.outcome, exitCode: result.exitCode, ...(result.reason !== undefined ? { reason: result.reason } : {}) })
      live.end()
      this.lives.delete(id)
      return result
    }).finally(() => { this.controllers.delete(controller) })
    this.runs.add(done)
    return { id, done }
  }

  running (id: string): boolean { return this.fixture.executor.running.includes(id) }

  /** wait until the job has printed `text` (watching its live output directly, not through attach) */
  async printed (id: string, text: string): Promise<void> {
    let seen = ''
    const live = this.lives.get(id)
    if (live == null) throw new Error(`job ${id} is not running`)
    const unsubscribe = live.subscribe({ data: chunk => { seen = (seen + Buffer.from(chunk).toString()).slice(-64 * 1024) }, end: () => {} })
    try {
      await waitFor(() => seen.includes(text), { what: `the job to print "${text}"` })
    } finally {
      unsubscribe()
    }
  }

  live (job: string): LiveOutput | undefined { return this.lives.get(job) }
  state (job: string): AttachEndState | undefined { return this.states.get(job) }
  write (job: string, data: Uint8Array): boolean { return this.fixture.executor.write(job, data) }
  resize (job: string, cols: number, rows: number): void {
    this.fixture.executor.resize(job, cols, rows)
    this.sizes.set(job, { cols, rows })
  }

  size (job: string): TerminalSize | undefined { return this.sizes.get(job) }

  /** cancel what still runs, wait for every run, remove the temp dir */
  async cleanup (): Promise<void> {
    for (const c of this.controllers) c.abort(new Error('test over'))
    await Promise.allSettled([...this.runs])
    await this.fixture.cleanup()
  }
}

/** Collects a session's frames in the background once `start()` is called. */
export class Viewer {
  readonly frames: AttachFrame[] = []
  error?: Error
  done = false
  private bytes: Uint8Array[] = []

  constructor (readonly session: AttachSession) {}

  start (): this {
    void (async () => {
      try {
        for await (const frame of this.session.output) {
          this.frames.push(frame)
          if (frame.type === 'output') this.bytes.push(frame.data)
        }
      } catch (err) {
        this.error = err as Error
      } finally {
        this.done = true
      }
    })()
    return this
  }

  /** every output byte so far, as text */
  get text (): string { return Buffer.concat(this.bytes).toString('utf8') }

  get end (): Extract<AttachFrame, { type: 'end' }> | undefined {
    return this.frames.find((f): f is Extract<AttachFrame, { type: 'end' }> => f.type === 'end')
  }

  async waitForText (text: string, timeoutMs?: number): Promise<void> {
    // an ended session fails at once: a throw inside waitFor would only count as "not yet"
    const seen = await waitFor(() => this.text.includes(text) ? 'printed' : this.done && 'ended', { what: `"${text}" in the output`, timeoutMs })
    if (seen === 'ended') throw new Error(`session ended without "${text}" (${this.error?.message ?? 'no error'}); output: ${JSON.stringify(this.text.slice(-400))}`)
  }

  async waitForEnd (timeoutMs?: number): Promise<void> {
    await waitFor(() => this.done, { what: 'the session to end', timeoutMs })
  }
}

/** A client that speaks the wire format by hand. */
export class RawClient {
  private readonly reader: FrameReader

  private constructor (readonly stream: Stream) {
    this.reader = new FrameReader(stream)
  }

  static async open (from: MeshLibp2p, to: MeshLibp2p): Promise<RawClient> {
    return new RawClient(await from.dialProtocol(to.peerId, ATTACH_PROTOCOL))
  }

  sendBytes (payload: Uint8Array): void { this.stream.send(encodeFrame(payload)) }
  hello (hello: AttachHello): void { this.sendBytes(encodeHello(hello)) }
  frame (frame: ClientFrame): void { this.sendBytes(encodeClientFrame(frame)) }

  async reply (): Promise<AttachReply> {
    const bytes = await this.reader.read(4096, 10_000, AbortSignal.timeout(10_000))
    if (bytes === undefined) throw new Error('no reply')
    return parseReply(bytes, 4096)
  }

  /** the next server frame; undefined at a clean end; throws on a reset */
  async next (timeoutMs = 10_000): Promise<ServerFrame | undefined> {
    const bytes = await this.reader.read(64 * 1024, timeoutMs, AbortSignal.timeout(timeoutMs + 1000))
    return bytes === undefined ? undefined : parseServerFrame(bytes, 64 * 1024)
  }
}
