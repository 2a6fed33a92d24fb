import { multiaddr } from '@multiformats/multiaddr'
import { createHash } from 'node:crypto'
import { decodeCbor, encodeCbor, isRecord } from '../codec/cbor.js'
import { Identity } from '../codec/keys.js'
import { CLOCK_SKEW_MS, MAX_ADDR_LENGTH, MAX_TOKEN_ADDRS, MAX_TOKEN_BYTES, MAX_TOKEN_CHAIN, TOKEN_PREFIX } from './constants.js'
import { BadTokenError } from './errors.js'
import { validateMeshInfo } from './mesh.js'
import { openRecord } from './records.js'
import { TrustState } from './trust-state.js'
import type { GrantPayload, MeshInfo, Role } from './types.js'

/** What a join token carries. */
export interface JoinToken {
  mesh: MeshInfo
  /** the invite grant's envelope bytes */
  invite: Uint8Array
  /** the invite key's libp2p private key protobuf (`Identity.toBytes()`): whoever holds the token holds it */
  inviteKey: Uint8Array
  /** multiaddrs of members to dial, each ending in /p2p/<peer id> */
  addrs: string[]
  /**
   * records proving the invite's signer was an admin when it signed (`TrustState.proofOf`), oldest
   * first; empty when the root signed the invite
   */
  chain?: Uint8Array[]
}

/** A token that decoded and proved itself, with its parts opened for use. */
export interface DecodedToken extends JoinToken {
  chain: Uint8Array[]
  /** hash of the invite grant: what an enrollment names */
  inviteHash: string
  grant: GrantPayload
  inviteIdentity: Identity
  roles: Role[]
  expiresAt: number
}

const TOKEN_FIELDS = new Set(['mesh', 'invite', 'inviteKey', 'addrs', 'chain'])
/** bytes of sha256 appended to catch a token garbled in copying (not a defence against tampering) */
const CHECKSUM_BYTES = 4
const MAX_BODY_CHARS = Math.ceil((MAX_TOKEN_BYTES + CHECKSUM_BYTES) / 3) * 4
const BASE64URL = /^[A-Za-z0-9_-]+$/
/** a protobuf Ed25519 private key is 68 bytes; leave room, refuse anything absurd */
const MAX_KEY_BYTES = 256

function checksum (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest().subarray(0, CHECKSUM_BYTES))
}

/**
 * `cit1` + base64url (no padding) of the token's canonical CBOR followed by the first 4 bytes of
 * its sha256 (so a token cut or mistyped anywhere, addresses included, is refused). The token is checked by decoding
 * it again, so this never emits a token that `decodeToken` would refuse at `now`.
 */
export function encodeToken (token: JoinToken, now: number = Date.now()): string {
  const value: Record<string, unknown> = { mesh: token.mesh, invite: token.invite, inviteKey: token.inviteKey, addrs: token.addrs }
  if (token.chain !== undefined && token.chain.length > 0) value.chain = token.chain
  let bytes: Uint8Array
  try {
    bytes = encodeCbor(value)
  } catch (err) {
    throw new BadTokenError('cannot encode its fields', { cause: err })
  }
  if (bytes.byteLength > MAX_TOKEN_BYTES) throw new BadTokenError(`${bytes.byteLength} bytes is over the limit of ${MAX_TOKEN_BYTES}`)
  const text = TOKEN_PREFIX + Buffer.concat([bytes, checksum(bytes)]).toString('base64url')
  decodeToken(text, now)
  return text
}

/**
 * Decode a join token and check everything in it: size, encoding, the mesh id, the invite key, that
 * the invite grant verifies, is an invite for that key, has not expired at `now`, and was signed by
 * the root or by an admin whose authority the token's chain proves from the root; the addresses.
 * Throws ERR_BAD_TOKEN saying what is wrong.
 */
export function decodeToken (text: string, now: number = Date.now()): DecodedToken {
  const value = decodeBody(text)
  for (const key of Object.keys(value)) {
    if (!TOKEN_FIELDS.has(key)) throw new BadTokenError(`unknown field ${JSON.stringify(key)}`)
  }
  let mesh: MeshInfo
  try {
    mesh = validateMeshInfo(value.mesh)
  } catch (err) {
    throw new BadTokenError((err as Error).message, { cause: err })
  }
  const inviteIdentity = parseInviteKey(value.inviteKey)
  const { grant, hash } = parseInvite(value.invite, mesh, inviteIdentity, now)
  const chain = parseChain(value.chain)
  const trust = new TrustState({ mesh, clock: () => now }, { maxRecords: MAX_TOKEN_CHAIN + 1, maxPendingRecords: MAX_TOKEN_CHAIN + 1 })
  const results = trust.addAll([...chain, value.invite as Uint8Array], now)
  const last = results[results.length - 1]
  if (!last.accepted) {
    throw new BadTokenError(`the invite is not signed by the mesh root or by an admin the token proves (${last.reason ?? 'refused'})`)
  }
  // a chain record that proves nothing is not harmless padding: it is a token someone altered
  const useless = results.findIndex((result) => !result.accepted)
  if (useless !== -1) throw new BadTokenError(`chain[${useless}]: ${results[useless].reason ?? 'refused'}`)
  return {
    mesh,
    invite: value.invite as Uint8Array,
    inviteKey: value.inviteKey as Uint8Array,
    addrs: parseAddrs(value.addrs),
    chain,
    inviteHash: hash,
    grant,
    inviteIdentity,
    roles: [...grant.roles],
    expiresAt: grant.expiresAt ?? 0
  }
}

function decodeBody (input: unknown): Record<string, unknown> {
  if (typeof input !== 'string') throw new BadTokenError('not a string')
  // tokens are pasted from chats and terminals: surrounding whitespace is not part of them
  const text = input.trim()
  if (!text.startsWith(TOKEN_PREFIX)) throw new BadTokenError(`does not start with ${TOKEN_PREFIX}`)
  const body = text.slice(TOKEN_PREFIX.length)
  if (body.length > MAX_BODY_CHARS) throw new BadTokenError(`longer than the limit of ${MAX_TOKEN_BYTES} bytes`)
  if (!BASE64URL.test(body)) throw new BadTokenError('not base64url after the prefix (was it cut or altered?)')
  const bytes = Buffer.from(body, 'base64url')
  if (bytes.toString('base64url') !== body) throw new BadTokenError('not canonical base64url (was it cut or altered?)')
  if (bytes.byteLength <= CHECKSUM_BYTES) throw new BadTokenError('too short')
  const cbor = new Uint8Array(bytes.subarray(0, bytes.byteLength - CHECKSUM_BYTES))
  if (Buffer.compare(checksum(cbor), bytes.subarray(bytes.byteLength - CHECKSUM_BYTES)) !== 0) {
    throw new BadTokenError('checksum does not match (was it cut or altered?)')
  }
  let value: unknown
  try {
    value = decodeCbor(cbor, MAX_TOKEN_BYTES)
  } catch (err) {
    throw new BadTokenError('its contents are not valid CBOR (was it cut or altered?)', { cause: err })
  }
  if (!isRecord(value)) throw new BadTokenError('its contents are not a map')
  return value
}

function parseInviteKey (value: unknown): Identity {
  if (!(value instanceof Uint8Array) || value.byteLength === 0 || value.byteLength > MAX_KEY_BYTES) {
    throw new BadTokenError('inviteKey: missing or not a private key')
  }
  try {
    return Identity.fromBytes(value)
  } catch (err) {
    throw new BadTokenError('inviteKey: not an Ed25519 private key', { cause: err })
  }
}

function parseInvite (value: unknown, mesh: MeshInfo, key: Identity, now: number): { grant: GrantPayload, hash: string } {
  if (!(value instanceof Uint8Array)) throw new BadTokenError('invite: missing or not bytes')
  let record
  try {
    record = openRecord(value)
  } catch (err) {
    throw new BadTokenError(`invite: ${(err as Error).message}`, { cause: err })
  }
  if (record.kind !== 'grant' || record.payload.invite !== true) throw new BadTokenError('invite: not an invite grant')
  const grant = record.payload
  if (grant.mesh !== mesh.id) throw new BadTokenError('invite: made for another mesh')
  if (Buffer.compare(grant.subject, key.publicKey) !== 0) throw new BadTokenError('invite: granted to another key than the token carries')
  if (grant.expiresAt !== undefined && now >= grant.expiresAt) {
    throw new BadTokenError(`expired at ${new Date(grant.expiresAt).toISOString()}`)
  }
  if (grant.issuedAt > now + CLOCK_SKEW_MS) throw new BadTokenError('invite: issued in the future (is a clock wrong?)')
  return { grant, hash: record.hash }
}

function parseChain (value: unknown): Uint8Array[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_TOKEN_CHAIN) {
    throw new BadTokenError(`chain: must be a list of 1 to ${MAX_TOKEN_CHAIN} records`)
  }
  for (const [i, item] of value.entries()) {
    if (!(item instanceof Uint8Array)) throw new BadTokenError(`chain[${i}]: not bytes`)
  }
  return value as Uint8Array[]
}

function parseAddrs (value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_TOKEN_ADDRS) throw new BadTokenError(`addrs: must be a list of at most ${MAX_TOKEN_ADDRS}`)
  for (const [i, addr] of value.entries()) {
    if (typeof addr !== 'string' || addr.length === 0 || addr.length > MAX_ADDR_LENGTH) {
      throw new BadTokenError(`addrs[${i}]: must be a string of 1 to ${MAX_ADDR_LENGTH} characters`)
    }
    let hasPeer = false
    try {
      hasPeer = multiaddr(addr).getComponents().some((c) => c.name === 'p2p')
    } catch (err) {
      throw new BadTokenError(`addrs[${i}]: not a multiaddr`, { cause: err })
    }
    if (!hasPeer) throw new BadTokenError(`addrs[${i}]: must end in /p2p/<peer id>`)
  }
  return value as string[]
}
