/**
 * Nix's base32: the alphabet store path hashes and `sha256:` NAR hashes are written in. Not RFC
 * 4648: no e, o, u or t, and the bits are read from the end of the hash.
 */

/** the 32 characters, in value order */
export const NIX_BASE32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz'

/** the hash part of a store path: 32 characters of Nix's base32 (160 bits) */
export const STORE_HASH_PART = /^[0-9a-df-np-sv-z]{32}$/

/** `bytes` in Nix's base32 (a sha256 gives 52 characters) */
export function toNixBase32 (bytes: Uint8Array): string {
  const len = Math.ceil(bytes.length * 8 / 5)
  let out = ''
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5
    const i = Math.floor(b / 8)
    const j = b % 8
    const c = (bytes[i] >> j) | (i + 1 < bytes.length ? bytes[i + 1] << (8 - j) : 0)
    out += NIX_BASE32_ALPHABET[c & 0x1f]
  }
  return out
}

/** `sha256:<base32>` as Nix writes a NAR hash, from the 32 digest bytes */
export function narHashText (digest: Uint8Array): string {
  return `sha256:${toNixBase32(digest)}`
}

/** the hash part of a store path (`/nix/store/<hash>-name` → `<hash>`) */
export function hashPartOf (storePath: string): string {
  return storePath.slice(storePath.lastIndexOf('/') + 1).slice(0, 32)
}

/** the base name of a store path (`/nix/store/<hash>-name` → `<hash>-name`) */
export function baseNameOf (storePath: string): string {
  return storePath.slice(storePath.lastIndexOf('/') + 1)
}
