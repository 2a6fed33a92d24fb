/**
 * The node's Nix binary cache signing key: an Ed25519 key in Nix's own file format
 * (`NAME:base64(seed ‖ public key)`), as `nix-store --generate-binary-cache-key` writes it. It
 * is made once per node, kept in the home (the secret mode 0600), and signs every narinfo the
 * node serves; users put its public half (`NAME:base64(public key)`) in `trusted-public-keys`.
 */
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, verify, createPublicKey } from 'node:crypto'
import { chmod, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NixCacheKeyError } from './errors.js'
import type { KeyObject } from 'node:crypto'
import type { Logger } from '../../store/logger.js'
import type { NixTool } from './tool.js'

/** the secret key's file in the home (mode 0600) */
export const CACHE_SECRET_FILE = 'nix-cache.secret'
/** the public key's file in the home, for people and scripts to read */
export const CACHE_PUBLIC_FILE = 'nix-cache.public'

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
/** DER prefix of an SPKI Ed25519 public key; the 32 key bytes follow */
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')
/** what a key name may be: Nix splits at the first colon, and the name goes into config lines */
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/

/** A loaded signing key: signs Nix fingerprints, names itself in `trusted-public-keys` form. */
export class CacheKey {
  private constructor (readonly name: string, private readonly key: KeyObject, private readonly pub: Buffer) {}

  /** `NAME:base64` as `trusted-public-keys` takes it */
  get publicKey (): string { return `${this.name}:${this.pub.toString('base64')}` }

  /** `NAME:base64(signature)` of a fingerprint, as a narinfo's `Sig:` line carries it */
  sign (fingerprint: string): string {
    return `${this.name}:${sign(null, Buffer.from(fingerprint, 'utf8'), this.key).toString('base64')}`
  }

  /** a key from the text of a secret key file; ERR_NIX_CACHE_KEY when it is not one */
  static parse (text: string): CacheKey {
    const t = text.trim()
    const colon = t.indexOf(':')
    const name = t.slice(0, colon)
    const bytes = Buffer.from(t.slice(colon + 1), 'base64')
    if (colon <= 0 || !KEY_NAME.test(name) || bytes.length !== 64) throw new NixCacheKeyError('the secret key file is not NAME:base64 of 64 bytes')
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, bytes.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
    const pub = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519.length)
    // the second half is the public key: a file whose halves disagree was damaged or forged
    if (!pub.equals(bytes.subarray(32))) throw new NixCacheKeyError('the secret key file\'s public half does not match its seed')
    return new CacheKey(name, key, Buffer.from(pub))
  }

  /**
   * The key kept in `dir`, made there first if there is none: by `nix-store
   * --generate-binary-cache-key` when Nix is installed, else in the same format by Node's crypto
   * (a member without Nix still serves what other members built). A key file readable by others
   * is narrowed to 0600. A damaged key is an error and is left as it is.
   */
  static async loadOrCreate (dir: string, name: string, c: { tool?: Pick<NixTool, 'generateCacheKey'>, logger: Logger }): Promise<CacheKey> {
    const secret = join(dir, CACHE_SECRET_FILE)
    const mode = await stat(secret).then(s => s.mode & 0o777, (err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return undefined; throw err })
    if (mode != null) {
      if ((mode & 0o077) !== 0) {
        c.logger.warn('the Nix cache key was readable by others: narrowed to 0600', { file: secret, mode: mode.toString(8) })
        await chmod(secret, 0o600)
      }
      return CacheKey.parse(await readFile(secret, 'utf8'))
    }
    if (!KEY_NAME.test(name)) throw new NixCacheKeyError(`${JSON.stringify(name)} cannot name a key`)
    const tmp = join(dir, `.nix-cache-${randomUUID()}`)
    try {
      await generate(name, `${tmp}.secret`, `${tmp}.public`, c)
      await chmod(`${tmp}.secret`, 0o600)
      const key = CacheKey.parse(await readFile(`${tmp}.secret`, 'utf8'))
      if ((await readFile(`${tmp}.public`, 'utf8')).trim() !== key.publicKey) throw new NixCacheKeyError('the generated public key does not match the secret one')
      // the secret last: its presence means the pair is complete
      await rename(`${tmp}.public`, join(dir, CACHE_PUBLIC_FILE))
      await rename(`${tmp}.secret`, secret)
      c.logger.info('made the Nix binary cache signing key', { publicKey: key.publicKey })
      return key
    } finally {
      await unlink(`${tmp}.secret`).catch(() => {})
      await unlink(`${tmp}.public`).catch(() => {})
    }
  }
}

async function generate (name: string, secretFile: string, publicFile: string, c: { tool?: Pick<NixTool, 'generateCacheKey'>, logger: Logger }): Promise<void> {
  if (c.tool != null) {
    try {
      await c.tool.generateCacheKey(name, secretFile, publicFile)
      return
    } catch (err: any) {
      if (err?.code !== 'ERR_NIX_UNAVAILABLE') throw err
    }
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519.length)
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519.length)
  await writeFile(secretFile, `${name}:${Buffer.concat([seed, pub]).toString('base64')}`, { mode: 0o600, flag: 'wx' })
  await writeFile(publicFile, `${name}:${pub.toString('base64')}`, { mode: 0o644, flag: 'wx' })
}

/** whether `sig` (`NAME:base64`) is a valid signature of `fingerprint` by `publicKey` (`NAME:base64`) */
export function verifyNixSignature (publicKey: string, fingerprint: string, sig: string): boolean {
  const [keyName, keyB64] = splitOnce(publicKey)
  const [sigName, sigB64] = splitOnce(sig)
  if (keyName !== sigName || keyName === '') return false
  const pub = Buffer.from(keyB64, 'base64')
  const bytes = Buffer.from(sigB64, 'base64')
  if (pub.length !== 32 || bytes.length !== 64) return false
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, pub]), format: 'der', type: 'spki' })
  return verify(null, Buffer.from(fingerprint, 'utf8'), key, bytes)
}

function splitOnce (text: string): [string, string] {
  const i = text.indexOf(':')
  return i < 0 ? ['', ''] : [text.slice(0, i), text.slice(i + 1)]
}
