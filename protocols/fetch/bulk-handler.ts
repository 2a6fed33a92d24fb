import { encodeBulkReply } from './bulk-wire.js'
import { FETCH_ERRORS } from './errors.js'
import { FetchRefusedError, readRequest, refuse, sizeFor } from './server.js'
import { FrameReader, writeFrame } from '../codec/frames.js'
import type { BulkServer } from './bulk-server.js'
import type { ServeContext } from './server.js'
import type { Stream } from '@libp2p/interface'

/**
 * Answer one `/cit/fetch-bulk/1.0.0` request: read it as a fetch request, refuse it as fetch
 * would (no read role, busy, not found, bad range; busy also while the bulk server's tickets or
 * sends are full), else reply with a ticket for the range and
 * close. The bytes go over the bulk server's TCP listener. Throws FetchRefusedError after a
 * refusal, and the reader's typed errors.
 */
export async function serveBulkRequest (stream: Stream, bulk: BulkServer, remoteHost: string | undefined, ctx: ServeContext, peer?: string): Promise<{ hash: string, bytes: number }> {
  const { signal } = ctx
  const reader = new FrameReader(stream, FETCH_ERRORS)
  const req = await readRequest(reader, stream, ctx)
  if (ctx.refusal != null) {
    await refuse(stream, ctx.refusal, signal)
    throw new FetchRefusedError(ctx.refusal)
  }
  const size = await sizeFor(req, stream, ctx)
  const end = req.end ?? size
  const issued = bulk.issue({ hash: req.hash, start: req.start, end, remoteHost, peer })
  if (issued == null) {
    await refuse(stream, 'ERR_BUSY', signal)
    throw new FetchRefusedError('ERR_BUSY')
  }
  await writeFrame(stream, encodeBulkReply({ ok: true, size, port: issued.port, ticket: issued.ticket, key: issued.key }), signal, FETCH_ERRORS)
  await stream.close({ signal }).catch(() => {})
  return { hash: req.hash, bytes: 0 }
}
