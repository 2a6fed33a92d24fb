import * as C from './constants.js'
import { InvalidAttachArgumentError } from './errors.js'

/** tunables; each default is the constant of the same name in constants.ts */
export interface AttachServiceInit {
  pingIntervalMs?: number
  idleTimeoutMs?: number
  helloTimeoutMs?: number
  endFlushTimeoutMs?: number
  closeTimeoutMs?: number
  maxBufferedBytes?: number
  replayBytes?: number
  maxWindowBytes?: number
  inputBytesPerSec?: number
  inputBurstBytes?: number
  minResizeIntervalMs?: number
  noticeIntervalMs?: number
  maxSessionsPerJob?: number
  maxSessions?: number
  maxStreamsPerConnection?: number
}

/** the service's tunables with their defaults; ERR_INVALID_ARGUMENT naming a bad one */
export function resolveServiceInit (init: AttachServiceInit): Required<AttachServiceInit> {
  const resolved: Required<AttachServiceInit> = {
    pingIntervalMs: init.pingIntervalMs ?? C.ATTACH_PING_INTERVAL_MS,
    idleTimeoutMs: init.idleTimeoutMs ?? C.ATTACH_IDLE_TIMEOUT_MS,
    helloTimeoutMs: init.helloTimeoutMs ?? C.ATTACH_HELLO_TIMEOUT_MS,
    endFlushTimeoutMs: init.endFlushTimeoutMs ?? C.ATTACH_END_FLUSH_TIMEOUT_MS,
    closeTimeoutMs: init.closeTimeoutMs ?? C.ATTACH_CLOSE_TIMEOUT_MS,
    maxBufferedBytes: init.maxBufferedBytes ?? C.ATTACH_MAX_BUFFERED_BYTES,
    replayBytes: init.replayBytes ?? C.ATTACH_REPLAY_BYTES,
    maxWindowBytes: init.maxWindowBytes ?? C.ATTACH_MAX_WINDOW_BYTES,
    inputBytesPerSec: init.inputBytesPerSec ?? C.ATTACH_INPUT_BYTES_PER_SEC,
    inputBurstBytes: init.inputBurstBytes ?? C.ATTACH_INPUT_BURST_BYTES,
    minResizeIntervalMs: init.minResizeIntervalMs ?? C.ATTACH_MIN_RESIZE_INTERVAL_MS,
    noticeIntervalMs: init.noticeIntervalMs ?? C.ATTACH_NOTICE_INTERVAL_MS,
    maxSessionsPerJob: init.maxSessionsPerJob ?? C.ATTACH_MAX_SESSIONS_PER_JOB,
    maxSessions: init.maxSessions ?? C.ATTACH_MAX_SESSIONS,
    maxStreamsPerConnection: init.maxStreamsPerConnection ?? C.ATTACH_MAX_STREAMS_PER_CONNECTION
  }
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidAttachArgumentError(`AttachService: ${key} must be a positive integer, got ${String(value)}`)
  }
  if (resolved.replayBytes * 2 > resolved.maxBufferedBytes) throw new InvalidAttachArgumentError('AttachService: replayBytes may be at most half of maxBufferedBytes')
  if (resolved.maxWindowBytes > C.ATTACH_MAX_WINDOW_BYTES) throw new InvalidAttachArgumentError(`AttachService: maxWindowBytes may be at most ${C.ATTACH_MAX_WINDOW_BYTES}`)
  if (resolved.pingIntervalMs >= resolved.idleTimeoutMs) throw new InvalidAttachArgumentError('AttachService: pingIntervalMs must be shorter than idleTimeoutMs')
  return resolved
}
