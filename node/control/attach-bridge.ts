import { createInterface } from 'node:readline'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from '../../store/logger.js'
import type { ControlHandlers } from './types.js'

/** the longest line a CLI may send on an attach bridge (a paste is split by the CLI) */
export const MAX_BRIDGE_LINE = 64 * 1024
/** past this many bytes queued to a slow local terminal, output is dropped (the job never waits) */
export const MAX_BRIDGE_BUFFER = 4 * 1024 * 1024

/**
 * `cit-node attach` over the control socket: an HTTP upgrade, then JSON lines both ways. The
 * daemon holds the attach session (to this node's executor or a peer's); the CLI holds the
 * terminal. Server → CLI: hello, output (base64), resize, resync, refused, end, error.
 * CLI → server: in (base64), resize, detach.
 */
export async function serveAttachBridge (req: IncomingMessage, socket: Duplex, handlers: ControlHandlers, log: Logger): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://cit')
  const ref = decodeURIComponent(url.pathname.split('/')[3] ?? '')
  const mode = url.searchParams.get('mode') === 'rw' ? 'rw' : 'ro'
  const cols = Number(url.searchParams.get('cols') ?? '') || undefined
  const rows = Number(url.searchParams.get('rows') ?? '') || undefined
  const send = (msg: Record<string, unknown>): void => {
    if (socket.writableLength > MAX_BRIDGE_BUFFER && msg.t === 'output') return
    socket.write(JSON.stringify(msg) + '\n')
  }
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: cit-attach\r\nConnection: Upgrade\r\n\r\n')
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
  const lines = createInterface({ input: socket, crlfDelay: Infinity })
  void (async () => {
    try {
      for await (const line of lines) {
        if (line.length > MAX_BRIDGE_LINE) continue
        let msg: any
        try { msg = JSON.parse(line) } catch { continue }
        if (msg?.t === 'in' && typeof msg.d === 'string') await session.write(Buffer.from(msg.d, 'base64')).catch(err => { log.debug('attach input refused', { job: ref, err }) })
        else if (msg?.t === 'resize' && Number.isInteger(msg.cols) && Number.isInteger(msg.rows)) await session.resize(msg.cols, msg.rows).catch(err => { log.debug('attach resize refused', { job: ref, err }) })
        else if (msg?.t === 'detach') break
      }
    } catch (err) {
      log.debug('attach input ended with an error', { job: ref, err })
    } finally {
      await session.detach().catch(err => { log.debug('attach detach failed', { job: ref, err }) })
    }
  })()
  try {
    for await (const frame of session.output) {
      if (frame.type === 'output') send({ t: 'output', d: Buffer.from(frame.data).toString('base64') })
      else send({ ...frame, t: frame.type, type: undefined })
      if (frame.type === 'end') break
    }
  } catch (err: any) {
    log.debug('attach session ended with an error', { job: ref, err })
    send({ t: 'error', code: err?.code ?? 'ERR_INTERNAL', message: String(err?.message ?? err) })
  } finally {
    socket.end()
  }
}
