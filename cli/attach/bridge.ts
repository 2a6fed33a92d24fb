import { request } from 'node:http'
import { CliError, DaemonUnreachableError } from '../errors.js'
import { ATTACH_BRIDGE_UPGRADE, controlFrame, dataFrame, onBridgeFrames } from '../../node/control/bridge-frames.js'
import { MAX_BRIDGE_FRAME } from '../../node/control/attach-bridge.js'
import type { Socket } from 'node:net'
import type { BridgeFrame } from '../../node/control/bridge-frames.js'
import type { AttachFrame, AttachSessionLike } from '../../protocols/attach/types.js'

/** output frames from the daemon are at most an attach output chunk; this bounds a broken one */
const MAX_OUTPUT_FRAME = 1024 * 1024
/** output read from the daemon and not yet written to the terminal: past this the socket is not read */
const MAX_QUEUED_OUTPUT = 1024 * 1024

/**
 * The daemon's frames as they arrive, for one reader at a time: decoded in the turn of the
 * event loop that read them, queued until taken. While more than MAX_QUEUED_OUTPUT bytes wait
 * (a terminal that does not keep up), the socket is paused and the daemon's side fills up.
 */
class Incoming {
  private readonly frames: BridgeFrame[] = []
  private queued = 0
  private paused = false
  private ended = false
  private error?: Error
  private wake?: () => void

  constructor (private readonly socket: Socket) {
    onBridgeFrames(socket, MAX_OUTPUT_FRAME, frame => {
      this.frames.push(frame)
      if (frame.kind === 'data') this.queued += frame.data.byteLength
      if (!this.paused && this.queued > MAX_QUEUED_OUTPUT) {
        this.paused = true
        socket.pause()
      }
      this.poke()
    }, err => {
      this.ended = true
      this.error = err
      this.poke()
    })
  }

  /** the next frame; undefined at the end of the connection; throws if it broke (a bad frame, a socket error) */
  async next (): Promise<BridgeFrame | undefined> {
    for (;;) {
      const frame = this.frames.shift()
      if (frame !== undefined) {
        if (frame.kind === 'data') this.queued -= frame.data.byteLength
        if (this.paused && this.queued <= MAX_QUEUED_OUTPUT / 2) {
          this.paused = false
          this.socket.resume()
        }
        return frame
      }
      if (this.error !== undefined) throw this.error
      if (this.ended) return undefined
      await new Promise<void>(resolve => { this.wake = resolve })
    }
  }

  private poke (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}

/**
 * The CLI's end of an attach session: an HTTP upgrade on the daemon's control socket to
 * `cit-attach/2`, then binary frames (node/control/bridge-frames.ts). Resolves once the daemon
 * has opened the session, or rejects with the daemon's reason.
 */
export async function openBridge (socketPath: string, home: string, ref: string, mode: 'ro' | 'rw', size: { cols?: number, rows?: number }): Promise<AttachSessionLike> {
  const q = new URLSearchParams({ mode, ...(size.cols != null ? { cols: String(size.cols) } : {}), ...(size.rows != null ? { rows: String(size.rows) } : {}) })
  const socket = await new Promise<Socket>((resolve, reject) => {
    const req = request({ socketPath, path: `/v1/jobs/${encodeURIComponent(ref)}/attach?${q.toString()}`, headers: { connection: 'Upgrade', upgrade: ATTACH_BRIDGE_UPGRADE } })
    req.on('upgrade', (res, sock, head) => {
      if (res.headers.upgrade?.toLowerCase() !== ATTACH_BRIDGE_UPGRADE) {
        sock.destroy()
        reject(new CliError('ERR_ATTACH', 'the daemon speaks another version of attach: restart it with this version of cit-node'))
        return
      }
      // bytes that came with the 101 response (the daemon's first frame) must not be lost
      if (head.byteLength > 0) sock.unshift(head)
      resolve(sock as Socket)
    })
    req.on('response', res => {
      res.resume()
      reject(new CliError('ERR_ATTACH', res.statusCode === 426
        ? 'the daemon speaks another version of attach: restart it with this version of cit-node'
        : `the daemon refused the attach (HTTP ${res.statusCode ?? '?'})`))
    })
    req.on('error', (err: any) => {
      reject(['ENOENT', 'ECONNREFUSED'].includes(err?.code) ? new DaemonUnreachableError(home) : err)
    })
    req.end()
  })
  const incoming = new Incoming(socket)
  const first = await incoming.next().catch(() => undefined)
  const hello = first === undefined || first.kind !== 'control' ? undefined : first.msg
  if (hello?.t !== 'hello') {
    socket.destroy()
    throw new CliError(String(hello?.code ?? 'ERR_ATTACH'), String(hello?.message ?? 'the daemon closed the attach session'))
  }
  const send = (frame: Buffer): void => { if (!socket.destroyed) socket.write(frame) }
  async function * output (): AsyncGenerator<AttachFrame> {
    for (;;) {
      const frame = await incoming.next()
      if (frame === undefined) return
      if (frame.kind === 'data') {
        yield { type: 'output', data: frame.data }
        continue
      }
      const { t, ...rest } = frame.msg
      if (t === 'error') throw new CliError(String(rest.code), String(rest.message))
      yield { type: t, ...rest } as AttachFrame
      if (t === 'end') return
    }
  }
  return {
    mode: hello.mode as 'ro' | 'rw',
    output: output(),
    write: async data => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
      for (let at = 0; at < bytes.byteLength; at += MAX_BRIDGE_FRAME) send(dataFrame(bytes.subarray(at, at + MAX_BRIDGE_FRAME)))
    },
    resize: async (cols, rows) => { send(controlFrame({ t: 'resize', cols, rows })) },
    detach: async () => { send(controlFrame({ t: 'detach' })); socket.end() }
  }
}
