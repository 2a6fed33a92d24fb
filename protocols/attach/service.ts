import { errorCode } from '../sync/stats.js'
import { RateLimitedLog } from '../net/log-limit.js'
import { silentLogger } from '../../store/logger.js'
import { openChannelSession } from './client.js'
import { pairedChannels, serverStreamChannel } from './channel.js'
import * as C from './constants.js'
import { AttachAbortedError, AttachNotAllowedError, InvalidAttachArgumentError } from './errors.js'
import { ServerSession } from './session.js'
import { resolveServiceInit } from './options.js'
import { streamError } from './util.js'
import type { AttachOptions, AttachSession } from './client.js'
import type { AttachHello } from './messages.js'
import type { AttachServiceInit } from './options.js'
import type { SessionLimits } from './session.js'
import type { AttachAuthorize, AttachJobs, AttachMode, AttachRefusalCode, TerminalSize } from './types.js'
import type { ServerChannel } from './channel.js'
import type { Logger } from '../../store/logger.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

export interface AttachServiceComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>
  logger?: Logger
  /** who may attach to what: e.g. `read` for ro, the submitter or an admin for rw */
  authorize: AttachAuthorize
  jobs: AttachJobs
}

export interface AttachSessionInfo {
  peer: string
  job: string
  mode: AttachMode
  /** ms since the epoch */
  since: number
  sentBytes: number
  inputBytes: number
  queuedBytes: number
  maxQueuedBytes: number
  droppedBytes: number
  resyncs: number
  pingsReceived: number
  refused: Partial<Record<AttachRefusalCode, number>>
}

export interface AttachServiceStats {
  /** sessions open now */
  open: number
  /** sessions accepted since start */
  accepted: number
  /** hellos answered with an error, by code (ERR_NOT_ALLOWED, ERR_NOT_RUNNING, ERR_BUSY, ...) */
  refused: Record<string, number>
  /** sessions that ended with a reset, by code (ERR_TIMEOUT, ERR_MALFORMED, ERR_WINDOW, ...) */
  errors: Record<string, number>
  /** resyncs sent to viewers that fell behind, and the output bytes they skipped */
  resyncs: number
  droppedBytes: number
}

/**
 * Serves `/cit/attach/1.0.0`: peers attach to the terminal of a job running on this node,
 * read-only or read-write. One session per stream; see docs/protocols/attach.md.
 */
export class AttachService {
  private readonly logger: Logger
  private readonly warn: RateLimitedLog
  private readonly init: Required<AttachServiceInit>
  private readonly limits: SessionLimits
  private readonly sessions = new Set<ServerSession>()
  private readonly inflight = new Set<Promise<void>>()
  private readonly sizes = new Map<string, TerminalSize>()
  private readonly refusedCounts = new Map<string, number>()
  private readonly errorCounts = new Map<string, number>()
  private totals = { accepted: 0, resyncs: 0, droppedBytes: 0 }
  private controller?: AbortController

  constructor (private readonly components: AttachServiceComponents, init: AttachServiceInit = {}) {
    if (typeof components?.authorize !== 'function') throw new InvalidAttachArgumentError('AttachService: authorize must be a function (peerId, job, mode) => { ok }')
    for (const fn of ['live', 'state', 'write', 'resize'] as const) {
      if (typeof components.jobs?.[fn] !== 'function') throw new InvalidAttachArgumentError(`AttachService: jobs.${fn} must be a function`)
    }
    this.logger = components.logger ?? silentLogger
    this.warn = new RateLimitedLog(this.logger)
    this.init = resolveServiceInit(init)
    this.limits = {
      ...this.init,
      replayAlignBytes: C.ATTACH_REPLAY_ALIGN_BYTES,
      maxOutputChunkBytes: C.ATTACH_MAX_OUTPUT_CHUNK_BYTES
    }
    this.handle = this.handle.bind(this)
  }

  isStarted (): boolean { return this.controller != null }

  async start (): Promise<void> {
    if (this.controller != null) return
    await this.components.libp2p.handle(C.ATTACH_PROTOCOL, this.handle, {
      maxInboundStreams: this.init.maxStreamsPerConnection,
      maxOutboundStreams: this.init.maxStreamsPerConnection
    })
    this.controller = new AbortController()
  }

  /** stop serving; open sessions are reset (viewers see ERR_CLOSED) and awaited */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    this.controller = undefined
    controller.abort(new AttachAbortedError('the attach service stopped'))
    await this.components.libp2p.unhandle(C.ATTACH_PROTOCOL).catch(() => {})
    await Promise.allSettled([...this.inflight])
  }

  stats (): AttachServiceStats {
    let { resyncs, droppedBytes } = this.totals
    for (const s of this.sessions) {
      resyncs += s.counters.resyncs
      droppedBytes += s.droppedBytes
    }
    return {
      open: this.sessions.size,
      accepted: this.totals.accepted,
      refused: Object.fromEntries(this.refusedCounts),
      errors: Object.fromEntries(this.errorCounts),
      resyncs,
      droppedBytes
    }
  }

  /** the open sessions, for status and diagnostics */
  list (): AttachSessionInfo[] {
    return [...this.sessions].map(s => ({
      peer: s.peer,
      job: s.job,
      mode: s.mode,
      since: s.since,
      ...s.counters,
      refused: { ...s.counters.refused },
      queuedBytes: s.queuedBytes,
      maxQueuedBytes: s.maxQueuedBytes,
      droppedBytes: s.droppedBytes
    }))
  }

  /**
   * Ask `authorize` again for every open session and reset those it now refuses (call it when
   * trust records change: a revoked key's sessions end). Resolves with how many were closed.
   */
  async recheck (): Promise<number> {
    let closed = 0
    await Promise.all([...this.sessions].map(async s => {
      let ok = false
      try { ok = (await this.components.authorize(s.peer, s.job, s.mode)).ok } catch { ok = false }
      if (ok) return
      closed++
      s.fail(new AttachNotAllowedError(s.peer))
    }))
    return closed
  }

  /**
   * Attach to a job running on this very node, as `peerId` (libp2p cannot dial itself): the
   * same session, authorisation and limits as over the network, through an in-memory pair of
   * channels that hands the messages over as they are (no encoding, framing or copying).
   */
  async attachLocal (peerId: string, job: string, mode: AttachMode, options: AttachOptions = {}): Promise<AttachSession> {
    if (this.controller == null) throw new AttachAbortedError('the attach service is not running')
    const [server, client] = pairedChannels()
    this.track(this.serve(server, peerId))
    return await openChannelSession(client, job, mode, options)
  }

  private handle (stream: Stream, connection: Connection): void {
    this.track(this.serve(serverStreamChannel(stream), connection.remotePeer.toString()))
  }

  private track (promise: Promise<void>): void {
    const done = promise.finally(() => { this.inflight.delete(done) })
    this.inflight.add(done)
  }

  private async serve (channel: ServerChannel, peer: string): Promise<void> {
    const stop = this.controller?.signal
    if (stop == null) {
      channel.abort(new AttachAbortedError('the attach service is not running'))
      return
    }
    let hello: AttachHello
    try {
      const first = await channel.first(this.init.helloTimeoutMs, stop)
      if (first === undefined) throw streamError(new Error('stream ended before the hello'), this.init.helloTimeoutMs)
      hello = first
    } catch (err) {
      const typed = streamError(err, this.init.helloTimeoutMs)
      if (typed.code === 'ERR_MALFORMED') return await this.refuse(channel, peer, 'ERR_MALFORMED', stop, typed.message)
      this.countError(typed, peer)
      channel.abort(typed)
      return
    }
    let verdict
    try {
      verdict = await this.components.authorize(peer, hello.job, hello.mode)
    } catch (err) {
      this.logger.error('attach: authorize failed', { peer, job: hello.job, err })
      return await this.refuse(channel, peer, 'ERR_INTERNAL', stop)
    }
    if (verdict.ok !== true) return await this.refuse(channel, peer, 'ERR_NOT_ALLOWED', stop, verdict.reason)
    const source = this.components.jobs.live(hello.job)
    if (source == null) return await this.refuse(channel, peer, 'ERR_NOT_RUNNING', stop)
    const onJob = [...this.sessions].filter(s => s.job === hello.job).length
    if (this.sessions.size >= this.init.maxSessions || onJob >= this.init.maxSessionsPerJob) return await this.refuse(channel, peer, 'ERR_BUSY', stop)
    const session = new ServerSession(channel, {
      peer, job: hello.job, mode: hello.mode, window: hello.window, source, limits: this.limits, signal: stop,
      host: { jobs: this.components.jobs, resize: (job, cols, rows) => { this.resize(job, cols, rows) } }
    })
    this.sessions.add(session)
    this.totals.accepted++
    await this.run(session, channel, hello, stop)
  }

  private async run (session: ServerSession, channel: ServerChannel, hello: AttachHello, stop: AbortSignal): Promise<void> {
    const { job, mode } = hello
    try {
      // an rw viewer brings its own terminal size, as `tmux attach` does
      if (mode === 'rw' && hello.cols !== undefined && hello.rows !== undefined) {
        try { this.resize(job, hello.cols, hello.rows) } catch { /* the job is ending; the reply says the size it has */ }
      }
      const size = this.sizeOf(job)
      await channel.send({
        ok: true,
        ...size,
        inputRate: this.init.inputBytesPerSec,
        inputBurst: this.init.inputBurstBytes,
        inputMax: C.ATTACH_MAX_INPUT_CHUNK_BYTES
      }, stop)
      this.logger.info('attach session opened', { peer: session.peer, job, mode })
      const how = await session.run()
      this.logger.info('attach session closed', { peer: session.peer, job, how, sentBytes: session.counters.sentBytes, resyncs: session.counters.resyncs })
    } catch (err) {
      const typed = streamError(err, this.init.idleTimeoutMs)
      channel.abort(typed)
      this.countError(typed, session.peer)
    } finally {
      this.sessions.delete(session)
      this.totals.resyncs += session.counters.resyncs
      this.totals.droppedBytes += session.droppedBytes
      if (![...this.sessions].some(s => s.job === job) && this.components.jobs.live(job) == null) this.sizes.delete(job)
    }
  }

  /** answer the hello with an error code, then close */
  private async refuse (channel: ServerChannel, peer: string, code: string, stop: AbortSignal, why?: string): Promise<void> {
    this.refusedCounts.set(code, (this.refusedCounts.get(code) ?? 0) + 1)
    this.warn.log('info', `refused:${code}:${peer}`, 'attach request refused', { peer, code, why })
    try {
      await channel.send({ ok: false, error: code }, stop)
      await channel.close({ signal: AbortSignal.any([stop, AbortSignal.timeout(this.init.closeTimeoutMs)]) })
    } catch (err) {
      channel.abort(err instanceof Error ? err : new Error(code))
    }
  }

  private resize (job: string, cols: number, rows: number): void {
    this.components.jobs.resize(job, cols, rows)
    this.sizes.set(job, { cols, rows })
    for (const s of this.sessions) if (s.job === job) s.notifyResize(cols, rows)
  }

  private sizeOf (job: string): TerminalSize {
    let known: TerminalSize | undefined
    try { known = this.components.jobs.size?.(job) } catch { known = undefined }
    return known ?? this.sizes.get(job) ?? { cols: C.ATTACH_DEFAULT_COLS, rows: C.ATTACH_DEFAULT_ROWS }
  }

  private countError (err: unknown, peer: string): void {
    const code = errorCode(err)
    this.errorCounts.set(code, (this.errorCounts.get(code) ?? 0) + 1)
    if (code !== 'ERR_ABORTED') this.warn.log('warn', `session:${code}:${peer}`, 'attach session failed', { peer, code, err: String(err) })
  }
}
