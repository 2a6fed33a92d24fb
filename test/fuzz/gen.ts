/**
 * Input generators for the fuzz suite: random values and raw CBOR (hostile headers included),
 * mutations of valid messages at the byte, value and text level.
 */
import { encodeCbor } from '../../protocols/codec/index.js'
import { encodeFrame } from '../../protocols/codec/frames.js'
import type { Prng } from './prng.js'

/** field names the wire formats use: random maps draw from them so validators get past "unknown field" */
export const FIELD_NAMES = [
  'v', 't', 'p', 'k', 's', 'job', 'type', 'node', 'at', 'state', 'reason', 'result', 'epoch', 'priority', 'spec', 'params',
  'submittedAt', 'nonce', 'name', 'stages', 'steps', 'command', 'title', 'timeoutMs', 'requires', 'labels', 'cores',
  'memoryBytes', 'supersede', 'cache', 'artefacts', 'seq', 'load1', 'memFreeBytes', 'memTotalBytes', 'slots', 'slotsFree',
  'running', 'addrs', 'workspaces', 'loadLimit', 'mesh', 'subject', 'roles', 'issuedAt', 'expiresAt', 'invite', 'hash',
  'start', 'end', 'credit', 'ok', 'size', 'error', 'logId', 'after', 'limit', 'items', 'next', 'more', 'mode', 'cols',
  'rows', 'window', 'data', 'bytes', 'dropped', 'what', 'code', 'exitCode', 'holder', 'claimedAt', 'renewedAt', 'inputRate',
  'inputBurst', 'inputMax', 'usage', 'log', 'wallMs', 'cpuMs', 'maxRssBytes', 'path', 'sha256', 'cacheHit', 'cachedFrom',
  '__proto__', 'constructor', ''
]

const INTERESTING_INTS = [0, 1, -1, 2, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 1e15, -1000, 1001]
const INTERESTING_STRINGS = ['', 'a', 'succeeded', 'failed', 'queued', 'running', 'finished', 'claimed', 'started', 'ro', 'rw', 'input',
  'output', 'resize', 'credit', 'ping', 'detach', 'end', 'refused', 'resync', 'job', 'event', 'load', 'grant', 'revoke', 'enroll',
  'lease', 'active', 'paused', 'gone', 'submit', 'build', 'read', 'admin', '../etc/passwd', '/abs', '\u0000', '\u202e', 'é',
  '0'.repeat(64), 'f'.repeat(64), 'G'.repeat(64), '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'x'.repeat(5000)]

/** a random value that CBOR can encode (maps keyed by wire field names), at most `depth` deep */
export function randomValue (rng: Prng, depth = 4): unknown {
  const r = rng.int(depth > 0 ? 12 : 8)
  switch (r) {
    case 0: return rng.pick(INTERESTING_INTS)
    case 1: return rng.int(2) === 0 ? rng.int(1000) : Math.floor((rng.float() - 0.5) * 2 ** 40)
    case 2: return rng.float() * 1000 - 500
    case 3: return rng.pick(INTERESTING_STRINGS)
    case 4: return randomString(rng, rng.size(64))
    case 5: return rng.bytes(rng.pick([0, 1, 8, 31, 32, 33, 64, 65, rng.size(300)]))
    case 6: return rng.pick([true, false, null])
    case 7: return rng.bool() ? 'a'.repeat(rng.size(70_000)) : rng.pick([0.5, -0.0, 1e308, Number.MIN_VALUE])
    case 8: case 9: {
      const n = rng.size(depth > 2 ? 12 : 4)
      const out: Record<string, unknown> = {}
      for (let i = 0; i < n; i++) setField(out, rng.bool(0.85) ? rng.pick(FIELD_NAMES) : randomString(rng, rng.size(20)), randomValue(rng, depth - 1))
      return out
    }
    default: {
      const n = rng.size(depth > 2 ? 10 : 3)
      return Array.from({ length: n }, () => randomValue(rng, depth - 1))
    }
  }
}

/** an own property even for `__proto__` (plain assignment would set the prototype instead) */
export function setField (obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
}

export function randomString (rng: Prng, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) {
    const r = rng.int(10)
    s += r < 7 ? String.fromCharCode(32 + rng.int(95)) : r < 9 ? String.fromCharCode(rng.int(0x3000)) : '\n'
  }
  return s
}

/** canonical CBOR of a random value */
export function randomCbor (rng: Prng, depth = 4): Uint8Array {
  try {
    return encodeCbor(randomValue(rng, depth))
  } catch {
    return new Uint8Array([0xf6])
  }
}

function header (major: number, info: number, extra: number[]): number[] {
  return [(major << 5) | info, ...extra]
}

/**
 * Raw CBOR that no encoder would write: huge declared lengths, indefinite lengths, tags,
 * reserved additional info, undefined, big integers, duplicate keys, truncation.
 */
export function rawCbor (rng: Prng, depth = 3): Uint8Array {
  const out: number[] = []
  const item = (d: number): void => {
    const major = rng.int(8)
    const choice = rng.int(10)
    let len = rng.int(6)
    if (choice < 6) {
      out.push(...header(major, len, []))
    } else if (choice === 6) {
      // a declared length far beyond the input
      const big = rng.pick([[0xff, 0xff, 0xff, 0xff], [0x40, 0, 0, 0], [0x7f, 0xff, 0xff, 0xff]])
      out.push(...header(major, 26, big))
      len = 0
    } else if (choice === 7) {
      out.push(...header(major, 27, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
      len = 0
    } else if (choice === 8) {
      out.push(...header(major, 31, []))
    } else {
      out.push(...header(major, 24 + rng.int(8), [rng.int(256)]))
      len = rng.int(4)
    }
    if (major === 2 || major === 3) for (let i = 0; i < len; i++) out.push(rng.int(256))
    if ((major === 4 || major === 5 || major === 6) && d > 0) for (let i = 0; i < len * (major === 5 ? 2 : 1); i++) item(d - 1)
    if (choice === 8 && d > 0) { item(d - 1); out.push(0xff) }
  }
  const n = 1 + rng.int(3)
  for (let i = 0; i < n; i++) item(depth)
  if (rng.bool(0.2)) out.splice(rng.int(out.length + 1))
  return Uint8Array.from(out)
}

const SPECIAL_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x1b, 0x3b, 0x5b, 0x7b, 0x9f, 0xbf, 0xf7, 0xf8, 0xfb, 0xff, 0xa5, 0x58, 0x78]

/** 1 to 4 random edits of `input`: bit flips, byte sets, inserts, deletes, truncation, duplication */
export function mutateBytes (rng: Prng, input: Uint8Array): Uint8Array {
  let b = Array.from(input)
  const edits = 1 + rng.int(4)
  for (let e = 0; e < edits; e++) {
    const at = rng.int(b.length + 1)
    switch (rng.int(7)) {
      case 0: if (b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << rng.int(8); break
      case 1: if (b.length > 0) b[Math.min(at, b.length - 1)] = rng.pick(SPECIAL_BYTES); break
      case 2: b.splice(at, 0, ...rng.bytes(1 + rng.int(8))); break
      case 3: b.splice(at, 1 + rng.int(8)); break
      case 4: b = b.slice(0, at); break
      case 5: { const len = rng.int(32); b.splice(at, 0, ...b.slice(at, at + len)); break }
      default: if (b.length > 0) b[Math.min(at, b.length - 1)] = rng.int(256)
    }
  }
  return Uint8Array.from(b)
}

/** a deep copy of `value` with one random change: a field replaced, removed or added; an item dropped */
export function mutateValue (rng: Prng, value: unknown): unknown {
  const copy = structuredClone(value)
  // collect the containers on one random path down
  let node: any = copy
  for (let d = 0; d < 6; d++) {
    const isObj = node != null && typeof node === 'object' && !(node instanceof Uint8Array)
    if (!isObj) break
    const keys = Object.keys(node)
    if (keys.length === 0 || rng.bool(0.35)) break
    const next = node[rng.pick(keys)]
    if (next == null || typeof next !== 'object' || next instanceof Uint8Array) break
    node = next
  }
  if (node == null || typeof node !== 'object' || node instanceof Uint8Array) return randomValue(rng, 2)
  const keys = Object.keys(node)
  const op = rng.int(4)
  if (Array.isArray(node)) {
    if (op === 0 && node.length > 0) node.splice(rng.int(node.length), 1)
    else if (op === 1) node.push(randomValue(rng, 2))
    else if (node.length > 0) node[rng.int(node.length)] = randomValue(rng, 2)
    else node.push(randomValue(rng, 2))
  } else if (op === 0 && keys.length > 0) {
    delete node[rng.pick(keys)]
  } else if (op === 1) {
    setField(node, rng.bool() ? rng.pick(FIELD_NAMES) : randomString(rng, 6), randomValue(rng, 2))
  } else if (keys.length > 0) {
    setField(node, rng.pick(keys), randomValue(rng, 2))
  }
  return copy
}

const YAML_BITS = [':', ': ', '-', '- ', '{', '}', '[', ']', ',', '&a ', '*a', '!!str ', '!x ', '|', '>', "'", '"', '#', '%YAML 1.1\n', '@', '`',
  '\n', '\n  ', '  ', '\t', '---\n', '...\n', '? ', '<<: *a\n', '\\', '\u0000', '\ufeff', 'null', '~', 'true', '0x1F', '1e400', '.inf', '&b [*b]']

/** 1 to 6 random edits of a text using YAML's special characters */
export function mutateText (rng: Prng, text: string): string {
  let s = text
  const edits = 1 + rng.int(6)
  for (let e = 0; e < edits; e++) {
    const at = rng.int(s.length + 1)
    switch (rng.int(5)) {
      case 0: s = s.slice(0, at) + rng.pick(YAML_BITS) + s.slice(at); break
      case 1: s = s.slice(0, at) + s.slice(at + 1 + rng.int(12)); break
      case 2: s = s.slice(0, at) + randomString(rng, 1 + rng.int(8)) + s.slice(at); break
      case 3: { const len = rng.int(40); s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at); break }
      default: s = s.slice(0, at)
    }
  }
  return s
}

/** text made only of YAML's structural pieces */
export function yamlSoup (rng: Prng): string {
  let s = ''
  const n = rng.size(80)
  for (let i = 0; i < n; i++) s += rng.bool(0.7) ? rng.pick(YAML_BITS) : randomString(rng, 1 + rng.int(6))
  return s
}

/** an unsigned LEB128 varint of any size (the project's encoder stops at 4 bytes, as its readers do) */
export function varint (n: number): Uint8Array {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Uint8Array.from(out)
}

/** bytes for a message parser: a valid message changed as a value or as bytes, raw or random CBOR */
export function message (rng: Prng, valid: unknown[]): Uint8Array {
  const r = rng.int(10)
  if (r < 4) {
    try { return encodeCbor(mutateValue(rng, rng.pick(valid))) } catch { return randomCbor(rng) }
  }
  if (r < 6) return mutateBytes(rng, encodeCbor(rng.pick(valid)))
  if (r < 7) return rawCbor(rng)
  if (r < 8) return rng.bytes(rng.size(64))
  if (r < 9) return randomCbor(rng)
  return encodeCbor(rng.pick(valid))
}

/** frames for a handler: valid ones, changed ones, huge length prefixes, and the bytes cut into random chunks */
export function frames (rng: Prng, valid: unknown[]): Uint8Array[] {
  const parts: Uint8Array[] = []
  const n = 1 + rng.int(4)
  for (let i = 0; i < n; i++) {
    const r = rng.int(10)
    if (r < 6) parts.push(encodeFrame(message(rng, valid)))
    else if (r < 7) parts.push(varint(rng.pick([2 ** 30, 2 ** 28 - 1, 1 << 20, 70_000])))
    else if (r < 8) parts.push(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x7f]))
    else parts.push(rng.bytes(rng.size(64)))
  }
  const all = Buffer.concat(parts)
  const chunks: Uint8Array[] = []
  for (let at = 0; at < all.length;) {
    const len = 1 + rng.int(Math.max(1, all.length - at))
    chunks.push(new Uint8Array(all.subarray(at, at + len)))
    at += len
  }
  return chunks
}

