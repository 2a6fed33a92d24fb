import { isIP } from 'node:net'
import { HttpError } from './errors.js'
import { LocalPeers } from './local-peer.js'
import type { Socket } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { TokenRole, TokenView } from './tokens.js'

/** the cookie a browser may carry a token in (reads only: writes take the Authorization header) */
export const TOKEN_COOKIE = 'cit_token'

/** Who is asking: from where, with which token. */
export interface Principal {
  /** the request came from this machine and named this machine as its host */
  local: boolean
  token?: TokenView
}

declare module 'fastify' {
  interface FastifyRequest {
    /** set by Auth's hooks on routes that need a role */
    principal?: Principal
  }
}

/** a loopback address, IPv4, IPv6 or IPv4-mapped */
export function isLoopbackAddress (addr: string | undefined): boolean {
  if (addr == null) return false
  const a = addr.replace(/^::ffff:/i, '')
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'))
}

/** the host part of a Host header (without the port) */
function hostOf (header: string | undefined): string {
  if (header == null) return ''
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(header) ?? /^([^:]+)(?::\d+)?$/.exec(header)
  return (m?.[1] ?? '').toLowerCase()
}

/**
 * Bearer-token authorisation shared by every route module. Reads are open to requests from
 * loopback that also name a loopback host (a page another site loads by DNS rebinding names its
 * own host, and is not open) and come from a process outside every job's sandbox (a job is
 * untrusted code on this machine); elsewhere they need a `read` or `submit` token. Writes always
 * need a `submit` token in the Authorization header as a bearer token (never a cookie or Basic
 * credentials, which a browser may send by itself, so another site cannot make a browser send one).
 * Reads also take the token as the password of Basic credentials, which is what a netrc file gives
 * (Nix's substituters, `curl --netrc`).
 */
export class Auth {
  private readonly hostProcess: (socket: Socket) => Promise<boolean>

  constructor (private readonly c: {
    check: (text: string) => Promise<TokenView | undefined>
    /** whether a loopback client is a process of this machine rather than a sandboxed job (default: LocalPeers) */
    isHostProcess?: (socket: Socket) => Promise<boolean>
  }) {
    const peers = new LocalPeers()
    this.hostProcess = c.isHostProcess ?? (async socket => await peers.isHostProcess(socket))
  }

  /** who is asking (a token that does not check out is no token) */
  async principal (req: FastifyRequest, options: { cookie: boolean }): Promise<Principal & { presented: boolean }> {
    const host = hostOf(req.headers.host)
    // a job with the network on also connects from loopback: only a process outside every
    // job's sandbox counts as this machine's user (see local-peer.ts)
    const local = isLoopbackAddress(req.socket.remoteAddress) && (host === 'localhost' || isLoopbackAddress(host)) &&
      await this.hostProcess(req.socket)
    const header = req.headers.authorization
    let text: string | undefined
    if (typeof header === 'string' && /^bearer\s+/i.test(header)) text = header.replace(/^bearer\s+/i, '').trim()
    // Basic (the token as the password) is how Nix and curl send a netrc entry; like a cookie, a
    // browser may send it by itself, so it counts for reads only
    else if (options.cookie && typeof header === 'string' && /^basic\s+/i.test(header)) text = basicPassword(header)
    else if (options.cookie) text = readCookie(req.headers.cookie, TOKEN_COOKIE)
    const token = text != null && text !== '' ? await this.c.check(text) : undefined
    return { local, token, presented: text != null && text !== '' }
  }

  /** a preHandler refusing requests without the role: 401 without a valid token, 403 with one lacking the role */
  require (role: TokenRole): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
    return async (req) => {
      const p = await this.principal(req, { cookie: role === 'read' && (req.method === 'GET' || req.method === 'HEAD') })
      req.principal = p
      if (role === 'read' && p.local && !p.presented) return
      if (p.token == null) {
        throw new HttpError('ERR_UNAUTHORIZED', p.presented
          ? 'the bearer token is not valid here (unknown, expired or revoked)'
          : role === 'read' ? 'reading from another machine needs a bearer token with the read role' : 'this action needs a bearer token with the submit role (`cit-node token create --role submit`)',
        { 'www-authenticate': 'Bearer realm="cit-node"' })
      }
      if (!allows(p.token.role, role)) throw new HttpError('ERR_FORBIDDEN', `the token's role ${p.token.role} does not allow this (it needs ${role})`)
    }
  }
}

/** submit allows reading too */
export function allows (has: TokenRole, needs: TokenRole): boolean {
  return has === needs || (has === 'submit' && needs === 'read')
}

/** the password of a Basic Authorization header (whatever the user name) */
function basicPassword (header: string): string | undefined {
  const decoded = Buffer.from(header.replace(/^basic\s+/i, '').trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon < 0 ? undefined : decoded.slice(colon + 1)
}

function readCookie (header: string | undefined, name: string): string | undefined {
  if (header == null) return undefined
  for (const part of header.split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim())
      } catch {
        return undefined
      }
    }
  }
  return undefined
}
