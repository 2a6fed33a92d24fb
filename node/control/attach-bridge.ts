import { ATTACH_BRIDGE_UPGRADE, controlFrame, dataFrame, onBridgeFrames } from './bridge-frames.js'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from '../../store/logger.js'
import type { ControlHandlers } from './types.js'

/** the longest frame a CLI may send on an attach bridge (a paste is split by the CLI) */
export const MAX_BRIDGE_FRAME = 64 * 1024
/** past this many bytes queued to a slow local terminal, output is dropped (the job never waits) */
export const MAX_BRIDGE_BUFFER = 4 * 1024 * 1024
/** keys waiting for the session (a paste is paced to the node's input rate): past this the socket is not read */
const MAX_QUEUED_INPUT = 2 * MAX_BRIDGE_FRAME

/**
 * The CLI's keys, resizes and detach, applied to the session one after the other in the order
 * they came. One that arrives while nothing is in flight starts at once (no hop through a
 * promise chain); while more than MAX_QUEUED_INPUT bytes of keys wait, the socket is paused, so
 * a paste waits in the CLI and the kernel rather than in this daemon.
 */
class BridgeInput {
  private last: Promise<void> | undefined
  private queued = 0
  private paused = false

  constructor (private readonly socket: Duplex, private readonly onError: (what: string, err: unknown) => void) {}

  after (bytes: number, op: () => Promise<void>, what: string): void {
    this.queued += bytes
    if (!this.paused && this.queued > MAX_QUEUED_INPUT) {
      this.paused = true
      this.socket.pause()
    }
    const run = async (): Promise<void> => {
      try {
        await op()
      } catch (err) {
        this.onError(what, err)
      }
    }
    const done = (this.last === undefined ? run() : this.last.then(run)).then(() => {
      this.queued -= bytes
      if (this.last === done) this.last = undefined
      if (this.paused && this.queued <= MAX_QUEUED_INPUT / 2) {
        this.paused = false
        this.socket.resume()
      }
    })
    this.last = done
  }
}

/**
 * `cit-node attach` over the control socket: an HTTP upgrade to `cit-attach/2`, then binary
 * frames both ways (node/control/bridge-frames.ts). The daemon holds the attach session (to this
 * node's executor or a peer's); the CLI holds the terminal. Server → CLI: output as `data`
 * frames, written the moment the session yields them; hello, resize, resync, refused, end,
 * error as `control` frames. CLI → server: keys as `data`; resize, detach as `control`.
 */
export async function serveAttachBridge (req: IncomingMessage, socket: Duplex, handlers: ControlHandlers, log: Logger): Promise<void> {
  if (req.headers.upgrade?.toLowerCase() !== ATTACH_BRIDGE_UPGRADE) {
    // a CLI of another version: it would misread these frames
    socket.end(`HTTP/1.1 426 Upgrade Required\r\nUpgrade: ${ATTACH_BRIDGE_UPGRADE}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    return
  }
  const url = new URL(req.url ?? '/', 'http://cit')
  const ref = decodeURIComponent(url.pathname.split('/')[3] ?? '')
  const mode = url.searchParams.get('mode') === 'rw' ? 'rw' : 'ro'
  const cols = Number(url.searchParams.get('cols') ?? '') || undefined
  const rows = Number(url.searchParams.get('rows') ?? '') || undefined
  const send = (msg: Record<string, unknown>): void => { if (!socket.destroyed) socket.write(controlFrame(msg)) }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${ATTACH_BRIDGE_UPGRADE}\r\nConnection: Upgrade\r\n\r\n`)
  const controller = new AbortController()
  socket.on('close', () => { controller.abort() })
  socket.on('error', () => { controller.abort() })
  let session
  try {
    session = await handlers.openAttach(ref, mode, { cols, rows }, controller.signal)
  } catch (err: any) {
    send({ t: 'error', code: err?.code ?? 'ERR_INTERNAL', message: String(err?.message ?? err) })
    socket.end()
    return
  }
  send({ t: 'hello', mode: session.mode, cols: session.cols, rows: session.rows })
  const input = new BridgeInput(socket, (what, err) => { log.debug(`attach ${what} refused`, { job: ref, err }) })
  let detached = false
  const detach = (err?: Error): void => {
    if (detached) return
    detached = true
    stopInput()
    input.after(0, async () => { await session.detach() }, 'detach')
    if (err === undefined) return
    // a bad frame or a broken socket: nothing more from this connection is trusted or wanted
    log.debug('attach input ended with an error', { job: ref, err })
    socket.destroy()
  }
  // keys are handed to the session in the turn of the event loop that read them
  const stopInput = onBridgeFrames(socket, MAX_BRIDGE_FRAME, frame => {
    if (frame.kind === 'data') {
      input.after(frame.data.byteLength, async () => { await session.write(frame.data) }, 'input')
      return
    }
    const msg: any = frame.msg
    if (msg.t === 'resize' && Number.isInteger(msg.cols) && Number.isInteger(msg.rows)) input.after(0, async () => { await session.resize(msg.cols, msg.rows) }, 'resize')
    else if (msg.t === 'detach') detach()
  }, detach)
  try {
    for await (const frame of session.output) {
      if (frame.type === 'output') {
        if (socket.writableLength <= MAX_BRIDGE_BUFFER && !socket.destroyed) socket.write(dataFrame(frame.data))
        continue
      }
      send({ ...frame, t: frame.type, type: undefined })
      if (frame.type === 'end') break
    }
  } catch (err: any) {
    log.debug('attach session ended with an error', { job: ref, err })
    send({ t: 'error', code: err?.code ?? 'ERR_INTERNAL', message: String(err?.message ?? err) })
  } finally {
    socket.end()
  }
}
