import { request } from 'node:http'
import { createInterface } from 'node:readline'
import { CliError, DaemonUnreachableError } from '../errors.js'
import type { AttachFrame, AttachSessionLike } from '../../protocols/attach/types.js'

/**
 * The CLI's end of an attach session: an HTTP upgrade on the daemon's control socket, then
 * JSON lines (see node/control/attach-bridge.ts). Resolves once the daemon has opened the
 * session, or rejects with the daemon's reason.
 */
export async function openBridge (socketPath: string, home: string, ref: string, mode: 'ro' | 'rw', size: { cols?: number, rows?: number }): Promise<AttachSessionLike> {
  const q = new URLSearchParams({ mode, ...(size.cols != null ? { cols: String(size.cols) } : {}), ...(size.rows != null ? { rows: String(size.rows) } : {}) })
  const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
    const req = request({ socketPath, path: `/v1/jobs/${encodeURIComponent(ref)}/attach?${q.toString()}`, headers: { connection: 'Upgrade', upgrade: 'cit-attach' } })
    // bytes that came with the 101 response (the daemon's first line) must not be lost
    req.on('upgrade', (_res, sock, head) => { if (head.byteLength > 0) sock.unshift(head); resolve(sock) })
    req.on('response', res => { reject(new CliError('ERR_ATTACH', `the daemon refused the attach (HTTP ${res.statusCode ?? '?'})`)) })
    req.on('error', (err: any) => {
      reject(['ENOENT', 'ECONNREFUSED'].includes(err?.code) ? new DaemonUnreachableError(home) : err)
    })
    req.end()
  })
  const lines = createInterface({ input: socket, crlfDelay: Infinity })[Symbol.asyncIterator]()
  const first = await lines.next()
  const hello = first.done === true ? undefined : JSON.parse(first.value)
  if (hello?.t !== 'hello') {
    socket.destroy()
    const code = String(hello?.code ?? 'ERR_ATTACH')
    throw new CliError(code, String(hello?.message ?? 'the daemon closed the attach session'))
  }
  const send = (msg: Record<string, unknown>): void => { if (!socket.destroyed) socket.write(JSON.stringify(msg) + '\n') }
  async function * output (): AsyncGenerator<AttachFrame> {
    for (;;) {
      const next = await lines.next()
      if (next.done === true) return
      const m = JSON.parse(next.value)
      if (m.t === 'output') yield { type: 'output', data: new Uint8Array(Buffer.from(m.d, 'base64')) }
      else if (m.t === 'error') throw new CliError(String(m.code), String(m.message))
      else {
        const { t, ...rest } = m
        yield { type: t, ...rest } as AttachFrame
        if (t === 'end') return
      }
    }
  }
  return {
    mode: hello.mode,
    output: output(),
    write: async data => { send({ t: 'in', d: Buffer.from(data).toString('base64') }) },
    resize: async (cols, rows) => { send({ t: 'resize', cols, rows }) },
    detach: async () => { send({ t: 'detach' }); socket.end() }
  }
}
