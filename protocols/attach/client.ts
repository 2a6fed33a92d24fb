import { peerIdFromString } from '@libp2p/peer-id'
import { MalformedMessageError } from '../codec/errors.js'
import {
  ATTACH_ACK_BYTES, ATTACH_CLOSE_TIMEOUT_MS, ATTACH_HELLO_TIMEOUT_MS, ATTACH_IDLE_TIMEOUT_MS, ATTACH_MAX_JOB_CHARS,
  ATTACH_MAX_WINDOW_BYTES, ATTACH_PING_INTERVAL_MS, ATTACH_PROTOCOL, ATTACH_WINDOW_BYTES
} from './constants.js'
import { AttachAbortedError, AttachRefusedError, AttachUnreachableError, InvalidAttachArgumentError } from './errors.js'
import { clientStreamChannel } from './channel.js'
import { ClientSession } from './client-session.js'
import { abortReason, checkSize, streamError } from './util.js'
import type { ClientChannel } from './channel.js'
import type { AttachSession, ClientLimits } from './client-session.js'
import type { AttachHello } from './messages.js'
import type { AttachMode } from './types.js'
import type { AttachStream } from './util.js'
import type { Libp2p, PeerId } from '@libp2p/interface'

export type { AttachSession }

export interface AttachOptions {
  /** the viewer's terminal size; an rw session resizes the job's terminal to it (both or neither) */
  cols?: number
  rows?: number
  /** aborting it ends the session (the output throws ERR_ABORTED) */
  signal?: AbortSignal
  /** credit granted at once (default ATTACH_WINDOW_BYTES) */
  windowBytes?: number
  /** grant more after consuming this many bytes (default ATTACH_ACK_BYTES) */
  ackBytes?: number
  pingIntervalMs?: number
  idleTimeoutMs?: number
  /** wait this long for the node's reply (default ATTACH_HELLO_TIMEOUT_MS) */
  helloTimeoutMs?: number
  closeTimeoutMs?: number
}

function positive (value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidAttachArgumentError(`attach: ${name} must be a positive integer, got ${String(value)}`)
  return v
}

/** check the caller's arguments; ERR_INVALID_ARGUMENT naming the first problem */
function checkArgs (job: string, mode: AttachMode, options: AttachOptions): { hello: AttachHello, limits: ClientLimits, helloTimeoutMs: number } {
  if (typeof job !== 'string' || job.length === 0 || job.length > ATTACH_MAX_JOB_CHARS) throw new InvalidAttachArgumentError(`attach: job must be a string of 1 to ${ATTACH_MAX_JOB_CHARS} characters`)
  if (mode !== 'ro' && mode !== 'rw') throw new InvalidAttachArgumentError(`attach: mode must be "ro" or "rw", got ${JSON.stringify(mode)}`)
  const window = positive(options.windowBytes, ATTACH_WINDOW_BYTES, 'windowBytes')
  if (window > ATTACH_MAX_WINDOW_BYTES) throw new InvalidAttachArgumentError(`attach: windowBytes may be at most ${ATTACH_MAX_WINDOW_BYTES}`)
  const ackBytes = Math.min(positive(options.ackBytes, ATTACH_ACK_BYTES, 'ackBytes'), window)
  const hello: AttachHello = { job, mode, window }
  if (options.cols !== undefined || options.rows !== undefined) {
    const { cols, rows } = checkSize(options.cols, options.rows)
    hello.cols = cols
    hello.rows = rows
  }
  const limits: ClientLimits = {
    window,
    ackBytes,
    pingIntervalMs: positive(options.pingIntervalMs, ATTACH_PING_INTERVAL_MS, 'pingIntervalMs'),
    idleTimeoutMs: positive(options.idleTimeoutMs, ATTACH_IDLE_TIMEOUT_MS, 'idleTimeoutMs'),
    closeTimeoutMs: positive(options.closeTimeoutMs, ATTACH_CLOSE_TIMEOUT_MS, 'closeTimeoutMs')
  }
  return { hello, limits, helloTimeoutMs: positive(options.helloTimeoutMs, ATTACH_HELLO_TIMEOUT_MS, 'helloTimeoutMs') }
}

/**
 * Attach to the terminal of `job`, running on `peer`. Resolves once the node accepted: the
 * session's `output` yields the scrollback's tail, then live output, resize notices, resyncs,
 * refusals and finally the job's end. Rejects with ERR_NOT_ALLOWED, ERR_NOT_RUNNING, ERR_BUSY
 * (the node's refusal, `AttachRefusedError`), ERR_UNREACHABLE, ERR_TIMEOUT, ERR_ABORTED,
 * ERR_MALFORMED, ERR_INVALID_ARGUMENT.
 */
export async function attach (
  libp2p: Pick<Libp2p, 'dialProtocol'>, peer: PeerId | string, job: string, mode: AttachMode, options: AttachOptions = {}
): Promise<AttachSession> {
  checkArgs(job, mode, options)
  const peerId = typeof peer === 'string' ? peerIdFromString(peer) : peer
  const deadline = AbortSignal.timeout(positive(options.helloTimeoutMs, ATTACH_HELLO_TIMEOUT_MS, 'helloTimeoutMs'))
  const dialSignal = options.signal == null ? deadline : AbortSignal.any([options.signal, deadline])
  let stream
  try {
    stream = await libp2p.dialProtocol(peerId, ATTACH_PROTOCOL, { signal: dialSignal })
  } catch (err) {
    if (options.signal?.aborted === true) throw new AttachAbortedError()
    throw new AttachUnreachableError(peerId.toString(), { cause: err })
  }
  return await openSession(stream, job, mode, options)
}

/** Run the client side of a session on an open stream (a libp2p stream). */
export async function openSession (stream: AttachStream, job: string, mode: AttachMode, options: AttachOptions = {}): Promise<AttachSession> {
  return await openChannelSession(clientStreamChannel(stream), job, mode, options)
}

/** Run the client side of a session on a channel (a stream's, or the viewer's end of an in-memory pair). */
export async function openChannelSession (channel: ClientChannel, job: string, mode: AttachMode, options: AttachOptions = {}): Promise<AttachSession> {
  const { hello, limits, helloTimeoutMs } = checkArgs(job, mode, options)
  const controller = new AbortController()
  const signal = options.signal == null ? controller.signal : AbortSignal.any([options.signal, controller.signal])
  try {
    await channel.send(hello, signal)
    let reply
    try {
      reply = await channel.first(helloTimeoutMs, signal)
    } catch (err) {
      throw streamError(err, helloTimeoutMs)
    }
    if (reply === undefined) throw new MalformedMessageError('the node closed the stream without a reply')
    if (!reply.ok) throw new AttachRefusedError(reply.error)
    return new ClientSession(channel, { mode, reply, limits, controller, signal })
  } catch (err) {
    const typed = signal.aborted ? abortReason(signal) : err instanceof Error ? err : new Error(String(err))
    channel.abort(typed)
    throw typed
  }
}
