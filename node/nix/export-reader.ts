/**
 * Reading a `nix-store --export` stream without Nix: where each path's NAR starts and ends, its
 * sha256 and size, its references and deriver. This is what lets any member serve a closure that
 * another member built as a binary cache (a narinfo per path, each NAR a byte range of the blob)
 * without importing it into a Nix store, and lets one that has no Nix at all serve it too.
 *
 * The format (Nix's export-import.cc): per path, the integer 1, the path's NAR, the magic
 * 0x4558494e, the path, its references (a count, then each), its deriver ("" for none) and 0 (or
 * 1 and a legacy signature); after the last path, 0. Integers are 64-bit little-endian; strings
 * are a length, the bytes and zeros up to a multiple of 8. A NAR (Nix's archive-io) is the
 * string "nix-archive-1" and one node: `( type regular [executable ""] contents BYTES )`,
 * `( type symlink target T )` or `( type directory (entry ( name N node NODE ))* )`.
 *
 * The bytes come from outside (another member's blob): every length is bounded, every path
 * checked, and a malformed stream is ERR_NIX_CLOSURE, never a crash or an unbounded buffer.
 */
import { createHash } from 'node:crypto'
import { isStorePath } from '../../protocols/job/index.js'
import { narHashText } from './base32.js'
import { NixClosureError } from './errors.js'
import type { Hash } from 'node:crypto'

/** most paths one export may hold */
export const MAX_EXPORT_PATHS = 100_000
/** most references one path may have */
export const MAX_REFERENCES = 10_000
/** the longest store path, file name and symlink target read */
const MAX_PATH_CHARS = 1024
const MAX_NAME_BYTES = 4096
const MAX_TARGET_BYTES = 64 * 1024
/** deepest directory nesting a NAR may have */
export const MAX_NAR_DEPTH = 256
const EXPORT_MAGIC = 0x4558494e

/** One path of an export: where its NAR lies in the stream and what Nix knows of it. */
export interface ExportEntry {
  path: string
  /** the NAR's first byte in the stream */
  narOffset: number
  narSize: number
  /** `sha256:<nix base32>` of the NAR */
  narHash: string
  references: string[]
  /** the derivation that built it, when the export names one */
  deriver?: string
}

/** A pull reader over a byte stream that counts what it consumed and may hash it as it goes. */
class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>
  private chunk: Buffer = Buffer.alloc(0)
  private pos = 0
  /** bytes consumed so far */
  offset = 0
  /** when set, every consumed byte goes into it */
  tap?: Hash

  constructor (source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]()
  }

  /** true when a byte is available, false at the end of the stream */
  async more (): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      const r = await this.it.next()
      if (r.done === true) return false
      this.chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength)
      this.pos = 0
    }
    return true
  }

  /** the next n bytes (n is small: callers bound it) */
  async take (n: number): Promise<Buffer> {
    if (this.pos + n <= this.chunk.length) return this.consume(n)
    const parts: Buffer[] = []
    let left = n
    while (left > 0) {
      if (!await this.more()) throw malformed('the stream ends early')
      const part = this.consume(Math.min(left, this.chunk.length - this.pos))
      parts.push(Buffer.from(part))
      left -= part.length
    }
    return Buffer.concat(parts)
  }

  /** consume n bytes without keeping them (file contents of any size) */
  async skip (n: number): Promise<void> {
    let left = n
    while (left > 0) {
      if (!await this.more()) throw malformed('the stream ends early')
      left -= this.consume(Math.min(left, this.chunk.length - this.pos)).length
    }
  }

  private consume (n: number): Buffer {
    const part = this.chunk.subarray(this.pos, this.pos + n)
    this.pos += n
    this.offset += n
    this.tap?.update(part)
    return part
  }

  async u64 (): Promise<number> {
    const v = (await this.take(8)).readBigUInt64LE(0)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('an integer is out of range')
    return Number(v)
  }

  /** a string of at most `max` bytes, its padding checked */
  async str (max: number): Promise<Buffer> {
    const len = await this.u64()
    if (len > max) throw malformed(`a string of ${len} bytes is longer than ${max}`)
    const bytes = await this.take(len)
    await this.padding(len)
    return bytes
  }

  /** a string whose bytes are skipped, of any length */
  async skipStr (): Promise<void> {
    const len = await this.u64()
    await this.skip(len)
    await this.padding(len)
  }

  private async padding (len: number): Promise<void> {
    const pad = (8 - (len % 8)) % 8
    if (pad > 0 && !(await this.take(pad)).every(b => b === 0)) throw malformed('padding is not zero')
  }

  async text (max: number): Promise<string> { return (await this.str(max)).toString('utf8') }

  async expect (word: string): Promise<void> {
    const got = await this.text(64)
    if (got !== word) throw malformed(`expected ${JSON.stringify(word)}, found ${JSON.stringify(got.slice(0, 64))}`)
  }
}

function malformed (why: string): NixClosureError {
  return new NixClosureError(`not a valid Nix export: ${why}`)
}

/** Read an export stream to its end; every path in it, in order. */
export async function readExport (source: AsyncIterable<Uint8Array>): Promise<ExportEntry[]> {
  const r = new ByteReader(source)
  const entries: ExportEntry[] = []
  const seen = new Set<string>()
  for (;;) {
    const flag = await r.u64()
    if (flag === 0) break
    if (flag !== 1) throw malformed(`a path starts with ${flag}, not 1`)
    if (entries.length >= MAX_EXPORT_PATHS) throw malformed(`more than ${MAX_EXPORT_PATHS} paths`)
    const narOffset = r.offset
    const tap = r.tap = createHash('sha256')
    await readNar(r)
    r.tap = undefined
    const narSize = r.offset - narOffset
    if (await r.u64() !== EXPORT_MAGIC) throw malformed('the export magic number is missing')
    const path = await storePath(r)
    if (path == null || seen.has(path)) throw malformed(path == null ? 'an entry names no store path' : `${path} appears twice`)
    seen.add(path)
    const count = await r.u64()
    if (count > MAX_REFERENCES) throw malformed(`${path} has more than ${MAX_REFERENCES} references`)
    const references: string[] = []
    for (let i = 0; i < count; i++) {
      const ref = await storePath(r)
      if (ref == null) throw malformed(`a reference of ${path} is not a store path`)
      references.push(ref)
    }
    const deriver = await storePath(r)
    const sig = await r.u64()
    if (sig === 1) await r.str(4096)
    else if (sig !== 0) throw malformed(`${path} ends with ${sig}, not 0 or 1`)
    entries.push({ path, narOffset, narSize, narHash: narHashText(tap.digest()), references, ...(deriver != null ? { deriver } : {}) })
  }
  if (await r.more()) throw malformed('bytes follow the end of the export')
  return entries
}

/** a store path, or undefined for the empty string; anything else is malformed */
async function storePath (r: ByteReader): Promise<string | undefined> {
  const text: string = await r.text(MAX_PATH_CHARS)
  if (text === '') return undefined
  if (!isStorePath(text)) throw malformed(`${JSON.stringify(String(text).slice(0, 200))} is not a store path`)
  return text
}

async function readNar (r: ByteReader): Promise<void> {
  await r.expect('nix-archive-1')
  await readNode(r, 0)
}

async function readNode (r: ByteReader, depth: number): Promise<void> {
  if (depth > MAX_NAR_DEPTH) throw malformed(`directories nest deeper than ${MAX_NAR_DEPTH}`)
  await r.expect('(')
  await r.expect('type')
  const type = await r.text(64)
  if (type === 'regular') {
    let tag = await r.text(64)
    if (tag === 'executable') { await r.expect(''); tag = await r.text(64) }
    if (tag === 'contents') { await r.skipStr(); tag = await r.text(64) }
    if (tag !== ')') throw malformed(`a regular file has ${JSON.stringify(tag)}`)
  } else if (type === 'symlink') {
    await r.expect('target')
    await r.str(MAX_TARGET_BYTES)
    await r.expect(')')
  } else if (type === 'directory') {
    let previous: Buffer | undefined
    for (let tag = await r.text(64); tag !== ')'; tag = await r.text(64)) {
      if (tag !== 'entry') throw malformed(`a directory has ${JSON.stringify(tag)}`)
      await r.expect('(')
      await r.expect('name')
      const name = await r.str(MAX_NAME_BYTES)
      const s = name.toString('latin1')
      if (s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\0')) throw malformed(`a directory entry is named ${JSON.stringify(s.slice(0, 200))}`)
      // Nix writes entries sorted and refuses others: so does this
      if (previous != null && Buffer.compare(previous, name) >= 0) throw malformed('directory entries are not sorted')
      previous = name
      await r.expect('node')
      await readNode(r, depth + 1)
      await r.expect(')')
    }
  } else {
    throw malformed(`unknown node type ${JSON.stringify(type.slice(0, 64))}`)
  }
}
