import { ProtocolError, StreamResetError } from '../codec/errors.js'
import type { FrameErrors } from '../codec/frames.js'

/** the peer did not send a frame within the deadline, or the session ran out of time */
export class SyncTimeoutError extends ProtocolError {
  constructor (message: string) {
    super('ERR_TIMEOUT', message)
    this.name = 'SyncTimeoutError'
  }
}

/** the serving peer answered with an error status */
export class SyncRemoteError extends ProtocolError {
  constructor (readonly remoteCode: string) {
    super('ERR_REMOTE', `the peer could not serve the sync request: ${remoteCode}`)
    this.name = 'SyncRemoteError'
  }
}

/** the peer is not a member (any more) */
export class PeerNotAllowedError extends ProtocolError {
  constructor (peer: string) {
    super('ERR_NOT_ALLOWED', `peer ${peer} is not allowed to sync`)
    this.name = 'PeerNotAllowedError'
  }
}

/** the session was cancelled (the service stopped) */
export class SyncAbortedError extends ProtocolError {
  constructor () {
    super('ERR_ABORTED', 'sync session cancelled')
    this.name = 'SyncAbortedError'
  }
}

/** `ingest` failed: the page is not marked as done and the session stops */
export class IngestFailedError extends ProtocolError {
  constructor (options: { cause: unknown }) {
    super('ERR_INGEST', 'ingesting a synced record failed', options)
    this.name = 'IngestFailedError'
  }
}

/** how the shared frame reader and writer word sync's failures */
export const SYNC_ERRORS: FrameErrors = {
  aborted: () => new SyncAbortedError(),
  timeout: message => new SyncTimeoutError(message),
  reset: cause => new StreamResetError({ cause })
}
