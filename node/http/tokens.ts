import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { NodeError, InvalidInputError } from '../errors.js'
import type { MetaStore } from '../../store/meta/index.js'

const T_TOKENS = 'http-tokens'
/** the roles a bearer token may carry: `submit` may also read */
export const TOKEN_ROLES = ['read', 'submit'] as const
export type TokenRole = typeof TOKEN_ROLES[number]
/** the longest lifetime a token may be given (and the default) */
export const MAX_TOKEN_TTL_MS = 10 * 365 * 24 * 3600_000
/** the most tokens one node keeps (revoked ones included), so the table cannot grow without bound */
export const MAX_TOKENS = 1000
/** every token starts with this, so secret scanners and people can tell what it is */
export const TOKEN_PREFIX = 'citk_'

/** What is stored for a token: never the secret, only its hash. */
export interface TokenRecord {
  id: string
  role: TokenRole
  /** the node the token was made on: it is valid on that node only */
  node: string
  createdAt: number
  /** null: no expiry */
  expiresAt: number | null
  revokedAt: number | null
  /** sha256 of the node id and the secret, hex */
  hash: string
  label?: string
}

/** a token as `token list` shows it */
export type TokenView = Omit<TokenRecord, 'hash'> & { state: 'valid' | 'expired' | 'revoked' }

export class TokenNotFoundError extends NodeError {
  constructor (id: string) {
    super('ERR_TOKEN_NOT_FOUND', `no token with id ${JSON.stringify(id)}`)
    this.name = 'TokenNotFoundError'
  }
}

function digest (node: string, secret: string): Buffer {
  return createHash('sha256').update(`${node}\n${secret}`).digest()
}

/**
 * Bearer tokens for the HTTP face, in the node's LevelDB: `citk_<id>_<secret>`. Only the hash of
 * the secret is kept, bound to this node's id; checks compare in constant time. Revoked tokens
 * stay listed (as revoked) so an operator sees what was cut off.
 */
export class TokenStore {
  constructor (private readonly c: { meta: MetaStore, self: string, now?: () => number }) {}

  private now (): number { return this.c.now?.() ?? Date.now() }

  async create (body: { role?: unknown, ttlMs?: unknown, label?: unknown }): Promise<TokenView & { token: string }> {
    const role = body.role
    if (typeof role !== 'string' || !(TOKEN_ROLES as readonly string[]).includes(role)) {
      throw new InvalidInputError(`role: must be one of ${TOKEN_ROLES.join(', ')}`, [{ path: 'role', message: `must be one of ${TOKEN_ROLES.join(', ')}` }])
    }
    const ttl = body.ttlMs
    if (ttl != null && (!Number.isSafeInteger(ttl) || (ttl as number) < 1000 || (ttl as number) > MAX_TOKEN_TTL_MS)) {
      throw new InvalidInputError('expires: must be between 1 s and 10 years', [{ path: 'ttlMs', message: 'must be between 1000 and 10 years in ms' }])
    }
    if (body.label != null && (typeof body.label !== 'string' || body.label.length > 200)) throw new InvalidInputError('label: must be a string of at most 200 characters')
    let count = 0
    for await (const _ of this.c.meta.table(T_TOKENS).keys()) count++
    if (count >= MAX_TOKENS) throw new InvalidInputError(`this node holds ${count} tokens already: revoke some and remove them (\`token revoke ID --purge\`)`)
    const id = randomBytes(6).toString('hex')
    const secret = randomBytes(24).toString('base64url')
    const now = this.now()
    const record: TokenRecord = {
      id,
      role: role as TokenRole,
      node: this.c.self,
      createdAt: now,
      expiresAt: ttl == null ? null : now + (ttl as number),
      revokedAt: null,
      hash: digest(this.c.self, secret).toString('hex'),
      ...(body.label != null ? { label: body.label as string } : {})
    }
    await this.c.meta.batch([{ type: 'put', table: T_TOKENS, key: id, value: record }], { sync: true })
    return { ...this.view(record), token: `${TOKEN_PREFIX}${id}_${secret}` }
  }

  async list (): Promise<TokenView[]> {
    const out: TokenView[] = []
    for await (const [, r] of this.c.meta.table<TokenRecord>(T_TOKENS).entries()) out.push(this.view(r))
    return out.sort((a, b) => a.createdAt - b.createdAt)
  }

  /** revoke (kept, listed as revoked) or, with purge, remove the record altogether */
  async revoke (id: string, options: { purge?: boolean } = {}): Promise<TokenView> {
    const r = await this.c.meta.table<TokenRecord>(T_TOKENS).get(String(id))
    if (r == null) throw new TokenNotFoundError(String(id))
    const next: TokenRecord = { ...r, revokedAt: r.revokedAt ?? this.now() }
    await this.c.meta.batch([options.purge === true
      ? { type: 'del', table: T_TOKENS, key: r.id }
      : { type: 'put', table: T_TOKENS, key: r.id, value: next }], { sync: true })
    return this.view(next)
  }

  /** the valid token this secret text is, or undefined (malformed, unknown, wrong secret, expired, revoked) */
  async check (text: string): Promise<TokenView | undefined> {
    const m = /^citk_([0-9a-f]{12})_([A-Za-z0-9_-]{32})$/.exec(text)
    if (m == null) return undefined
    const r = await this.c.meta.table<TokenRecord>(T_TOKENS).get(m[1])
    if (r == null || r.node !== this.c.self) return undefined
    const want = Buffer.from(r.hash, 'hex')
    const got = digest(this.c.self, m[2])
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined
    const view = this.view(r)
    return view.state === 'valid' ? view : undefined
  }

  private view (r: TokenRecord): TokenView {
    const { hash: _, ...rest } = r
    const state = r.revokedAt != null ? 'revoked' : r.expiresAt != null && r.expiresAt <= this.now() ? 'expired' : 'valid'
    return { ...rest, state }
  }
}
