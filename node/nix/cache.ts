/**
 * The mesh as a Nix binary cache (the layout of Nix's HTTP binary cache substituter): every
 * output a known result names, and every path in its closure, is served as a signed narinfo and
 * a NAR, read straight out of the exported closure blob (fetched from whoever holds it when this
 * member does not). Nothing is imported into a Nix store to serve it, and Nix need not be
 * installed on the serving member at all.
 *
 * What is served is what members holding `build` reported: a result names each output's path,
 * NAR hash and closure blob, and a closure is served only while every result naming it agrees
 * with it (each output there, with that NAR hash); one that disagrees is refused as a whole.
 * The narinfo is signed with this node's cache key, so a user trusts a member's key, and through
 * it the mesh's builders, exactly as `cit-node nix import` does.
 */
import { NodeError } from '../errors.js'
import { baseNameOf, hashPartOf, STORE_HASH_PART } from './base32.js'
import { CacheKey } from './cache-key.js'
import { NixCacheKeyError, NixClosureError, NixPathNotFoundError } from './errors.js'
import { readExport } from './export-reader.js'
import type { ExportEntry } from './export-reader.js'
import type { JobRow } from '../jobs/types.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'
import type { NixTool } from './tool.js'

/** the store directory served (a client's must be the same: Nix checks `StoreDir`) */
export const NIX_STORE_DIR = '/nix/store'
/** `Priority` in nix-cache-info: below cache.nixos.org's 40, so a member on the LAN is asked first */
export const NIX_CACHE_PRIORITY = 30
/** most store paths whose NAR locations are kept in memory; the oldest closures are forgotten first */
export const MAX_INDEXED_PATHS = 100_000
/** a NAR's file name: its hash (Nix base32) and the closure blob it is read from */
const NAR_FILE = /^([0-9a-df-np-sv-z]{52})-([0-9a-f]{64})\.nar$/

/** an output a result names: its path, its NAR hash and the closure blob that holds it */
interface Output { path: string, narHash: string, closure: string }

/** what a closure blob holds, by hash part */
type ClosureIndex = Map<string, ExportEntry>

export interface NixCacheComponents {
  /** every job (for the results that name outputs) and its changes */
  jobs: {
    store: { all: (options?: { signal?: AbortSignal }) => AsyncIterable<JobRow> }
    on: (event: 'change', fn: (row: JobRow) => void) => unknown
    off: (event: 'change', fn: (row: JobRow) => void) => unknown
  }
  blobs: BlobStore
  /** make a blob local, fetched from the members that hold it */
  ensureLocal: (hash: string, options: { signal?: AbortSignal }) => Promise<unknown>
  /** makes the signing key when Nix is there (else Node's crypto does) */
  tool?: Pick<NixTool, 'generateCacheKey'>
  logger: Logger
}

export interface NixCacheInit {
  /** where the signing key is kept (the home) */
  keyDir: string
  /** the key's name: unique per node, as `trusted-public-keys` tells keys apart by name */
  keyName: string
  maxIndexedPaths?: number
}

/** Serves this node's view of the mesh's Nix outputs as a read-only binary cache. */
export class NixCache {
  private readonly controller = new AbortController()
  private keyReady?: Promise<CacheKey>
  private key?: CacheKey
  private outputs?: Map<string, Output[]>
  private loading?: Promise<Map<string, Output[]>>
  /** closure blob → the outputs results say it holds */
  private readonly claims = new Map<string, Output[]>()
  /** closure blob → what it holds, oldest first (a Map keeps insertion order) */
  private readonly indexes = new Map<string, Promise<ClosureIndex>>()
  private readonly sizes = new Map<string, number>()
  /** hash part of a path that is in a closure but no result's output → that closure */
  private readonly within = new Map<string, string>()
  private readonly onChange = (row: JobRow): void => { this.add(row) }

  constructor (private readonly c: NixCacheComponents, private readonly init: NixCacheInit) {}

  /** load (or make) the signing key; a failure is logged and answered with ERR_NIX_CACHE_KEY */
  async start (): Promise<void> {
    this.keyReady ??= CacheKey.loadOrCreate(this.init.keyDir, this.init.keyName, { tool: this.c.tool, logger: this.c.logger })
    try {
      this.key = await this.keyReady
    } catch (err) {
      this.c.logger.error('the Nix binary cache has no signing key: it will not serve', { err })
    }
  }

  stop (): void {
    this.controller.abort(new NodeError('ERR_STOPPED', 'the daemon is stopping'))
    this.c.jobs.off('change', this.onChange)
  }

  /** `NAME:base64`, for `trusted-public-keys`; undefined until the key is loaded */
  get publicKey (): string | undefined { return this.key?.publicKey }

  /** the body of `nix-cache-info` */
  cacheInfo (): string {
    return `StoreDir: ${NIX_STORE_DIR}\nWantMassQuery: 1\nPriority: ${NIX_CACHE_PRIORITY}\n`
  }

  /** the signed narinfo of the store path with this hash part; ERR_NIX_PATH_NOT_FOUND when none is known */
  async narinfo (hashPart: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    if (!STORE_HASH_PART.test(hashPart)) throw new NodeError('ERR_INVALID_HASH', `${JSON.stringify(hashPart.slice(0, 80))} is not a store path hash (32 characters of Nix's base32)`)
    const key = await this.signingKey()
    const outputs = await this.load(options.signal)
    // the closures results name for this output first, then one it was found in
    const closures = new Set((outputs.get(hashPart) ?? []).map(o => o.closure))
    const within = this.within.get(hashPart)
    if (within != null) closures.add(within)
    let failure: unknown
    for (const closure of closures) {
      try {
        const entry = (await this.index(closure, options.signal)).get(hashPart)
        if (entry != null) return this.render(entry, closure, key)
      } catch (err: any) {
        // unreachable, damaged or refused: another closure may hold the same path
        options.signal?.throwIfAborted()
        if (err?.code !== 'ERR_NIX_CLOSURE') failure = err
      }
    }
    // a member that could not be reached may hold it: say so rather than that nobody does
    if (failure != null) throw failure
    throw new NixPathNotFoundError(`no store path with hash ${hashPart} is known here`)
  }

  /** a NAR by the file name a narinfo gave (`<narHash>-<closure>.nar`): its bytes, read from the closure blob */
  async nar (file: string, options: { signal?: AbortSignal } = {}): Promise<{ size: number, stream: AsyncIterable<Uint8Array> }> {
    const m = NAR_FILE.exec(file)
    if (m == null) throw new NixPathNotFoundError(`no NAR is named ${JSON.stringify(file.slice(0, 200))}`)
    const [, hash, closure] = m
    await this.load(options.signal)
    // only closures a result names: never a byte range of any other blob
    if (!this.claims.has(closure)) throw new NixPathNotFoundError(`no Nix result known here names the closure ${closure}`)
    const index = await this.index(closure, options.signal).catch((err: any) => {
      if (err?.code === 'ERR_NIX_CLOSURE') throw new NixPathNotFoundError(err.message)
      throw err
    })
    const entry = [...index.values()].find(e => e.narHash === `sha256:${hash}`)
    if (entry == null) throw new NixPathNotFoundError(`closure ${closure} holds no NAR with hash sha256:${hash}`)
    // the blob may have been collected since it was indexed
    await this.c.ensureLocal(closure, { signal: options.signal })
    return { size: entry.narSize, stream: this.c.blobs.get(closure, { start: entry.narOffset, end: entry.narOffset + entry.narSize, signal: options.signal }) }
  }

  private async signingKey (): Promise<CacheKey> {
    if (this.keyReady == null) void this.start()
    try {
      return await this.keyReady!
    } catch (err: any) {
      throw err?.code === 'ERR_NIX_CACHE_KEY' ? err : new NixCacheKeyError(String(err?.message ?? err))
    }
  }

  /** every output the known results name, by hash part (read once, then kept up to date) */
  private async load (signal?: AbortSignal): Promise<Map<string, Output[]>> {
    if (this.outputs != null) return this.outputs
    this.loading ??= (async () => {
      const outputs = new Map<string, Output[]>()
      // listen first: a result recorded during the scan is not missed (adding twice is harmless)
      const pending: JobRow[] = []
      const early = (row: JobRow): void => { pending.push(row) }
      this.c.jobs.on('change', early)
      try {
        for await (const row of this.c.jobs.store.all({ signal: this.controller.signal })) this.add(row, outputs)
      } finally {
        this.c.jobs.off('change', early)
      }
      for (const row of pending) this.add(row, outputs)
      this.outputs = outputs
      this.c.jobs.on('change', this.onChange)
      return outputs
    })().finally(() => { this.loading = undefined })
    return await raceSignal(this.loading, signal)
  }

  private add (row: JobRow, outputs = this.outputs): void {
    if (outputs == null || row.state !== 'succeeded' || row.nix == null) return
    for (const o of row.nix.outputs) {
      if (o.path.slice(0, o.path.lastIndexOf('/')) !== NIX_STORE_DIR) continue
      const part = hashPartOf(o.path)
      const list = outputs.get(part) ?? []
      if (list.some(x => x.closure === o.closure && x.narHash === o.narHash && x.path === o.path)) continue
      const claim = { path: o.path, narHash: o.narHash, closure: o.closure }
      list.push(claim)
      outputs.set(part, list)
      this.claims.set(o.closure, [...(this.claims.get(o.closure) ?? []), claim])
      // a closure already read must agree with the new claim too
      void this.indexes.get(o.closure)?.then(index => { if (this.disagreement(index, [claim]) != null) this.refuse(o.closure, index) }, () => {})
    }
  }

  /** the first claim a closure's index does not bear out, if any */
  private disagreement (index: ClosureIndex, claims: Output[]): string | undefined {
    for (const o of claims) {
      const e = index.get(hashPartOf(o.path))
      if (e?.path !== o.path) return `${o.path} is not in it`
      if (e.narHash !== o.narHash) return `${o.path} has NAR hash ${e.narHash}, not ${o.narHash}`
    }
    return undefined
  }

  /** stop serving anything of a closure that a result disagrees with */
  private refuse (closure: string, index: ClosureIndex | undefined, why = 'a result disagrees with it'): NixClosureError {
    const err = new NixClosureError(`closure ${closure} is not served: ${why}`)
    this.c.logger.warn('a Nix closure does not match the results naming it: not served', { closure, why })
    const refused = Promise.reject(err)
    refused.catch(() => {})
    this.indexes.set(closure, refused)
    this.sizes.delete(closure)
    for (const part of index?.keys() ?? []) if (this.within.get(part) === closure) this.within.delete(part)
    return err
  }

  /** what a closure blob holds (fetched and read once, shared by concurrent requests) */
  private async index (closure: string, signal?: AbortSignal): Promise<ClosureIndex> {
    let p = this.indexes.get(closure)
    if (p == null) {
      p = this.read(closure)
      this.indexes.set(closure, p)
      p.catch(() => { if (this.indexes.get(closure) === p) this.indexes.delete(closure) })
    } else {
      // most recently used last
      this.indexes.delete(closure)
      this.indexes.set(closure, p)
    }
    return await raceSignal(p, signal)
  }

  private async read (closure: string): Promise<ClosureIndex> {
    // the work is shared: it ends with the daemon, not with the request that started it
    const signal = this.controller.signal
    await this.c.ensureLocal(closure, { signal })
    // a whole read is verified: bytes that do not hash to the name fail here (and are quarantined)
    const entries = await readExport(this.c.blobs.get(closure, { signal }))
    const index: ClosureIndex = new Map()
    for (const e of entries) {
      if (e.path.slice(0, e.path.lastIndexOf('/')) === NIX_STORE_DIR) index.set(hashPartOf(e.path), e)
    }
    const why = this.disagreement(index, this.claims.get(closure) ?? [])
    if (why != null) throw this.refuse(closure, undefined, why)
    for (const part of index.keys()) if (!this.within.has(part)) this.within.set(part, closure)
    this.sizes.set(closure, index.size)
    this.evict(closure)
    return index
  }

  /** forget the oldest closures while more paths than the limit are indexed */
  private evict (keep: string): void {
    let total = [...this.sizes.values()].reduce((a, b) => a + b, 0)
    const limit = this.init.maxIndexedPaths ?? MAX_INDEXED_PATHS
    for (const closure of this.indexes.keys()) {
      if (total <= limit) break
      if (closure === keep || !this.sizes.has(closure)) continue
      total -= this.sizes.get(closure)!
      this.sizes.delete(closure)
      this.indexes.delete(closure)
      for (const [part, c] of this.within) if (c === closure) this.within.delete(part)
    }
  }

  private render (e: ExportEntry, closure: string, key: CacheKey): string {
    // Nix orders references as a set of store paths, and signs them in that order
    const refs = [...e.references].sort()
    const fingerprint = `1;${e.path};${e.narHash};${e.narSize};${refs.join(',')}`
    const lines = [
      `StorePath: ${e.path}`,
      `URL: nar/${e.narHash.slice('sha256:'.length)}-${closure}.nar`,
      'Compression: none',
      `FileHash: ${e.narHash}`,
      `FileSize: ${e.narSize}`,
      `NarHash: ${e.narHash}`,
      `NarSize: ${e.narSize}`,
      `References: ${refs.map(baseNameOf).join(' ')}`,
      ...(e.deriver != null ? [`Deriver: ${baseNameOf(e.deriver)}`] : []),
      `Sig: ${key.sign(fingerprint)}`
    ]
    return lines.join('\n') + '\n'
  }
}

/** the promise's outcome, or the signal's reason as soon as it aborts */
async function raceSignal<T> (p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) return await p
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => {
      onAbort = () => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}
