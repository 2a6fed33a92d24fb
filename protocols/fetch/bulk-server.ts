/**
 * The holder's side of the bulk channel: single-use tickets issued over libp2p, redeemed on a
 * plain TCP listener, the range sent in AES-256-GCM records (see bulk-wire.ts and
 * docs/protocols/fetch.md). A ticket is bound to the peer's address, the blob and the range; it
 * is dropped when redeemed, when it expires, and when the server stops.
 */
import { once } from 'node:events'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { open } from 'node:fs/promises'
import { createServer } from 'node:net'
import { finished } from 'node:stream/promises'
import { BULK_HELLO_TIMEOUT_MS, BULK_MAX_ACTIVE_SENDS, BULK_MAX_CONNECTIONS, BULK_MAX_TICKETS, BULK_RECORD_BYTES, BULK_TICKET_TTL_MS, FETCH_FRAME_TIMEOUT_MS } from './constants.js'
import { FetchAbortedError, FetchTimeoutError } from './errors.js'
import { HELLO_BYTES, KEY_BYTES, RECORD_HEADER_BYTES, TICKET_BYTES, helloProof, recordCipher } from './bulk-wire.js'
import { silentLogger } from '../../store/logger.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'
import type { FileHandle } from 'node:fs/promises'
import type { Server, Socket } from 'node:net'

export interface BulkServerComponents {
  /** where a blob's file is (read a record at a time; clients verify what they receive) */
  blobs: Pick<BlobStore, 'pathOf'>
  logger?: Logger
  /** bytes handed to sockets (counters) */
  onBytes?: (bytes: number) => void
  /** a range sent to the end (counters) */
  onServed?: () => void
}

export interface BulkServerInit {
  /** the address to listen on (the port is chosen by the system) */
  host: string
  ticketTtlMs?: number
  maxTickets?: number
  /** ranges sent at once (redeemed tickets whose socket is open) */
  maxActiveSends?: number
  /** TCP connections open at once, hellos not yet read included */
  maxConnections?: number
  helloTimeoutMs?: number
  /** a socket that takes no data this long is cut off */
  writeTimeoutMs?: number
  recordBytes?: number
}

interface Ticket {
  id: Uint8Array
  key: Uint8Array
  /** the address the request came from over libp2p: the TCP connection must come from it too */
  remoteHost?: string
  /** the peer it was issued to over libp2p (for cut()) */
  peer?: string
  hash: string
  start: number
  end: number
  timer: ReturnType<typeof setTimeout>
}

/** `::ffff:1.2.3.4` and `1.2.3.4` are one address */
function plainHost (host: string | undefined): string | undefined {
  return host?.startsWith('::ffff:') === true ? host.slice(7) : host
}

export class BulkServer {
  private readonly logger: Logger
  private readonly init: Required<BulkServerInit>
  private readonly tickets = new Map<string, Ticket>()
  private readonly sockets = new Set<Socket>()
  /** transfers under way: their socket and the peer the ticket was issued to */
  private readonly active = new Map<Socket, string | undefined>()
  private server?: Server
  private controller?: AbortController
  private listenPort = 0

  constructor (private readonly components: BulkServerComponents, init: BulkServerInit) {
    this.logger = components.logger ?? silentLogger
    this.init = {
      host: init.host,
      ticketTtlMs: init.ticketTtlMs ?? BULK_TICKET_TTL_MS,
      maxTickets: init.maxTickets ?? BULK_MAX_TICKETS,
      maxActiveSends: init.maxActiveSends ?? BULK_MAX_ACTIVE_SENDS,
      maxConnections: init.maxConnections ?? BULK_MAX_CONNECTIONS,
      helloTimeoutMs: init.helloTimeoutMs ?? BULK_HELLO_TIMEOUT_MS,
      writeTimeoutMs: init.writeTimeoutMs ?? FETCH_FRAME_TIMEOUT_MS,
      recordBytes: init.recordBytes ?? BULK_RECORD_BYTES
    }
  }

  /** the TCP port tickets are redeemed on (0 before start) */
  get port (): number { return this.listenPort }

  async start (): Promise<void> {
    if (this.server != null) return
    const server = createServer({ noDelay: true }, socket => { this.accept(socket) })
    server.maxConnections = this.init.maxConnections
    server.listen({ host: this.init.host, port: 0 })
    await once(server, 'listening')
    const address = server.address()
    this.listenPort = typeof address === 'object' && address != null ? address.port : 0
    this.server = server
    this.controller = new AbortController()
  }

  /** stop: outstanding tickets are dropped and transfers in flight cut off */
  async stop (): Promise<void> {
    const server = this.server
    if (server == null) return
    this.server = undefined
    this.controller?.abort(new FetchAbortedError('the fetch service stopped'))
    for (const t of this.tickets.values()) clearTimeout(t.timer)
    this.tickets.clear()
    for (const s of this.sockets) s.destroy()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    this.listenPort = 0
  }

  /**
   * a ticket for one range, or undefined when too many are outstanding or too many ranges are
   * being sent (the caller answers ERR_BUSY)
   */
  issue (req: { hash: string, start: number, end: number, remoteHost?: string, peer?: string }): { ticket: Uint8Array, key: Uint8Array, port: number } | undefined {
    if (this.server == null || this.tickets.size >= this.init.maxTickets || this.active.size >= this.init.maxActiveSends) return undefined
    const id = randomBytes(TICKET_BYTES)
    const key = randomBytes(KEY_BYTES)
    const name = id.toString('hex')
    const timer = setTimeout(() => { this.tickets.delete(name) }, this.init.ticketTtlMs)
    timer.unref()
    this.tickets.set(name, { id, key, remoteHost: plainHost(req.remoteHost), peer: req.peer, hash: req.hash, start: req.start, end: req.end, timer })
    return { ticket: id, key, port: this.listenPort }
  }

  get outstandingTickets (): number { return this.tickets.size }

  /** the peers holding a ticket or a transfer under way */
  peers (): Set<string> {
    const out = new Set<string>()
    for (const t of this.tickets.values()) if (t.peer != null) out.add(t.peer)
    for (const owner of this.active.values()) if (owner != null) out.add(owner)
    return out
  }

  /** ranges being sent now */
  get activeSends (): number { return this.active.size }

  /** sockets accepted and not closed yet, those waiting for their hello included */
  get openSockets (): number { return this.sockets.size }

  /**
   * drop the tickets issued to `peer` and cut off its transfers under way (its read role was
   * revoked, say); returns how many transfers were cut
   */
  cut (peer: string): number {
    for (const [name, t] of this.tickets) {
      if (t.peer !== peer) continue
      clearTimeout(t.timer)
      this.tickets.delete(name)
    }
    let n = 0
    for (const [socket, owner] of this.active) {
      if (owner !== peer) continue
      socket.destroy()
      this.active.delete(socket)
      n++
    }
    return n
  }

  private accept (socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => { this.sockets.delete(socket); this.active.delete(socket) })
    socket.on('error', () => {})
    void this.serve(socket).catch((err: unknown) => {
      this.logger.debug('bulk transfer failed', { peer: socket.remoteAddress, err: String(err) })
      socket.destroy()
    })
  }

  private async serve (socket: Socket): Promise<void> {
    const hello = await readHello(socket, this.init.helloTimeoutMs)
    const ticket = this.redeem(hello, socket.remoteAddress)
    // a ticket redeemed while the sends are full is spent unanswered: the client sees the connection close
    if (ticket == null || this.active.size >= this.init.maxActiveSends) {
      socket.destroy()
      return
    }
    const stop = this.controller?.signal
    if (stop == null) throw new FetchAbortedError('the fetch service stopped')
    if (socket.destroyed) return
    this.active.set(socket, ticket.peer)
    try {
      await this.send(socket, ticket, stop)
    } finally {
      this.active.delete(socket)
    }
    this.components.onServed?.()
  }

  /** the ticket the hello names, removed (single use), if its proof and address check out */
  private redeem (hello: Buffer, from: string | undefined): Ticket | undefined {
    const name = hello.subarray(0, TICKET_BYTES).toString('hex')
    const ticket = this.tickets.get(name)
    if (ticket == null) return undefined
    this.tickets.delete(name)
    clearTimeout(ticket.timer)
    if (ticket.remoteHost != null && ticket.remoteHost !== plainHost(from)) return undefined
    const proof = helloProof(ticket.key, ticket.id)
    return timingSafeEqual(proof, hello.subarray(TICKET_BYTES)) ? ticket : undefined
  }

  /**
   * The range in sealed records; TCP's own flow control paces it. The blob is read a record at a
   * time into two buffers used in turn (the next record is read while this one is sealed and
   * sent; the cipher copies what it seals, so a buffer is free again once sealed), and a record's
   * header, ciphertext and tag go to the socket in one write call: per record, one allocation (the
   * ciphertext) instead of three, and one system call instead of three.
   */
  private async send (socket: Socket, t: Ticket, signal: AbortSignal): Promise<void> {
    const onAbort = (): void => { socket.destroy() }
    signal.addEventListener('abort', onAbort, { once: true })
    let fh: FileHandle | undefined
    let next: Promise<Buffer> | undefined
    try {
      fh = await open(this.components.blobs.pathOf(t.hash), 'r')
      const file = fh
      if ((await file.stat()).size < t.end) throw new Error(`the blob is shorter than the ticket's range ${t.start}-${t.end}`)
      const recordBytes = this.init.recordBytes
      const first = Math.min(recordBytes, t.end - t.start)
      const buffers = [Buffer.allocUnsafe(first), Buffer.allocUnsafe(first)]
      const read = async (index: number, pos: number): Promise<Buffer> => {
        const buf = buffers[index % 2]
        const n = Math.min(recordBytes, t.end - pos)
        for (let got = 0; got < n;) {
          const { bytesRead } = await file.read(buf, got, n - got, pos + got)
          if (bytesRead === 0) throw new Error(`the blob gave ${pos + got - t.start} of ${t.end - t.start} bytes`)
          got += bytesRead
        }
        return buf.subarray(0, n)
      }
      let pos = t.start
      if (pos < t.end) next = read(0, pos)
      for (let index = 0; next != null; index++) {
        signal.throwIfAborted()
        const plain = await next
        pos += plain.byteLength
        next = pos < t.end ? read(index + 1, pos) : undefined
        next?.catch(() => {})
        const cipher = recordCipher(t.key, t.id, index)
        const sealed = cipher.update(plain)
        cipher.final()
        const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES)
        header.writeUInt32BE(plain.byteLength, 0)
        socket.cork()
        socket.write(header)
        socket.write(sealed)
        socket.write(cipher.getAuthTag())
        socket.uncork()
        this.components.onBytes?.(plain.byteLength)
        // up to a record more than the kernel took waits in the socket, so the next is sealed while it drains
        if (socket.writableLength > recordBytes) await drained(socket, this.init.writeTimeoutMs, signal)
        if (socket.destroyed) throw new Error('the bulk connection closed')
      }
      // settles also when the socket is destroyed before its end is flushed (end's callback would not)
      socket.end()
      await finished(socket, { readable: false })
    } finally {
      signal.removeEventListener('abort', onAbort)
      // a read still under way ends before the file is closed
      await next?.catch(() => {})
      await fh?.close().catch(() => {})
    }
  }
}

/** the client's first HELLO_BYTES, within `timeoutMs` */
async function readHello (socket: Socket, timeoutMs: number): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = []
    let have = 0
    const timer = setTimeout(() => { done(new FetchTimeoutError('no ticket on the bulk connection in time')) }, timeoutMs)
    const onData = (data: Buffer): void => {
      parts.push(data)
      have += data.byteLength
      if (have >= HELLO_BYTES) done()
    }
    const onEnd = (): void => { done(new Error('the bulk connection closed before its ticket')) }
    function done (err?: Error): void {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      socket.pause()
      if (err != null) reject(err)
      // a client sends nothing after its hello; more is a protocol error
      else if (have !== HELLO_BYTES) reject(new Error('bytes after the bulk hello'))
      else resolve(Buffer.concat(parts))
    }
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('close', onEnd)
  })
}

/** wait for the socket to drain, within `timeoutMs`; a socket closed meanwhile fails at once */
async function drained (socket: Socket, timeoutMs: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      clearTimeout(timer)
      socket.off('drain', onDrain)
      socket.off('close', onClose)
      signal.removeEventListener('abort', onAbort)
      if (err == null) resolve()
      else reject(err)
    }
    const onDrain = (): void => { done() }
    const onClose = (): void => { done(new Error('the bulk connection closed')) }
    const onAbort = (): void => { done(signal.reason) }
    const timer = setTimeout(() => { done(new FetchTimeoutError('the peer took no data within the deadline')) }, timeoutMs)
    socket.once('drain', onDrain)
    socket.once('close', onClose)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  if (socket.destroyed) throw new Error('the bulk connection closed')
}

/**
 * Where the bulk listener should listen, given the node's libp2p addresses: the loopback when
 * the node is reachable only there, else every interface (tickets, not the address, guard it).
 */
export function bulkHostFor (addrs: Array<{ getComponents: () => Array<{ name: string, value?: string }> }>): string {
  const ips = addrs.flatMap(a => a.getComponents().filter(c => c.name === 'ip4' || c.name === 'ip6').map(c => ({ v6: c.name === 'ip6', value: c.value ?? '' })))
  const loopback = ips.length > 0 && ips.every(ip => ip.v6 ? ip.value === '::1' : ip.value.startsWith('127.'))
  if (loopback) return ips.every(ip => ip.v6) ? '::1' : '127.0.0.1'
  return ips.length > 0 && ips.every(ip => ip.v6) ? '::' : '0.0.0.0'
}
