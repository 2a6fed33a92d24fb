import { createServer } from 'node:net'
import { NodeError } from '../errors.js'

/** how many ports after a taken one are tried for a free one to suggest */
const SUGGEST_TRIES = 20

/**
 * The daemon could not listen where it was told to: the one line a person needs (which address,
 * why, and a --listen that would work now), instead of libp2p's multi-line error with stacks.
 */
export class ListenError extends NodeError {
  constructor (code: 'ERR_ADDRESS_IN_USE' | 'ERR_LISTEN', message: string, readonly addr: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'ListenError'
  }
}

/** libp2p reports each address it could not listen on as `  ADDR: Error: listen CODE: …` */
const FAILED_ADDR = /^\s*(\/\S+): (?:Error: )?listen (E[A-Z]+)\b/m

async function isFree (host: string, port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen({ host, port, exclusive: true }, () => { server.close(() => { resolve(true) }) })
  })
}

/** the same address on the first free port after the taken one (or simply the next port) */
async function nextFree (addr: string): Promise<string> {
  const m = /^\/(?:ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)/.exec(addr)
  if (m == null) return '/ip4/0.0.0.0/tcp/7421'
  const host = m[1]
  const port = Number(m[2])
  for (let p = port + 1; p <= Math.min(65535, port + SUGGEST_TRIES); p++) {
    if (await isFree(host, p)) return addr.replace(`/tcp/${port}`, `/tcp/${p}`)
  }
  return addr.replace(`/tcp/${port}`, `/tcp/${port + 1}`)
}

/**
 * A typed ListenError for libp2p's failure to listen (EADDRINUSE, EACCES, EADDRNOTAVAIL), with
 * the fix in the message; undefined for anything else.
 */
export async function explainListenFailure (err: unknown): Promise<ListenError | undefined> {
  const text = String((err as Error)?.message ?? '')
  const m = FAILED_ADDR.exec(text)
  if (m == null) return undefined
  const [, addr, sys] = m
  if (sys === 'EADDRINUSE') {
    return new ListenError('ERR_ADDRESS_IN_USE', `cannot listen on ${addr}: the port is in use (another cit-node or another program listens there): choose another, e.g. --listen ${await nextFree(addr)}, or set "listen" in config.json`, addr, { cause: err })
  }
  const why = sys === 'EACCES'
    ? 'not allowed (ports below 1024 need root)'
    : sys === 'EADDRNOTAVAIL' ? 'this machine has no such address' : sys
  return new ListenError('ERR_LISTEN', `cannot listen on ${addr}: ${why}: choose another address with --listen, or set "listen" in config.json`, addr, { cause: err })
}
