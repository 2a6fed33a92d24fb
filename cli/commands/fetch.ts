import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, open, rename, unlink } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { parse, positionals } from '../context.js'
import { CliError, UsageError } from '../errors.js'
import { isKnownCode } from '../../node/error-codes.js'
import { bytes } from '../output.js'
import { homePaths } from '../../node/home.js'
import { parseHash } from '../../store/blobs/index.js'
import { ARTEFACT_MODE_MASK } from '../../protocols/job/records.js'
import type { Output } from '../output.js'

export const usage = 'cit-node fetch HASH|JOB:PATH [-o PATH] [--json]'
export const summary = 'an artefact or log by sha256 (or a job\'s artefact by its path), from whichever member holds it'

/** bytes read from the store's file at a time when the CLI reads it itself */
const LOCAL_READ_BYTES = 4 * 1024 * 1024

/**
 * Bytes of the blob: through the daemon if one runs (fetched from the mesh if need be), else
 * this home's store. Once the daemon has the blob, its file in this home's store is read
 * directly when this user can (no copy through the daemon's socket, no second hash there);
 * the caller hashes what it reads either way.
 */
async function source (p: ReturnType<typeof parse>, hash: string, progress: boolean): Promise<AsyncIterable<Uint8Array>> {
  try {
    const client = p.ctx.client()
    await client.fetchBlob(hash, progress ? (done, total) => { process.stderr.write(`\rfetching ${hash.slice(0, 12)}: ${bytes(done)} of ${bytes(total)}`) } : undefined)
    if (progress) process.stderr.write('\r\x1b[K')
    return await storeFile(p.ctx.home, hash) ?? await client.blob(hash)
  } catch (err: any) {
    if (err?.code !== 'ERR_DAEMON_UNREACHABLE') throw err
    return await localSource(p.ctx.home, hash)
  }
}

/** the blob's file in this home's store, opened for reading, or undefined if this user cannot */
async function storeFile (home: string, hash: string): Promise<AsyncIterable<Uint8Array> | undefined> {
  const { BlobLayout } = await import('../../store/blobs/layout.js')
  const path = new BlobLayout(homePaths(home).blobs).blobPath(parseHash(hash))
  try {
    const fh = await open(path, 'r')
    return fh.createReadStream({ highWaterMark: LOCAL_READ_BYTES })
  } catch {
    return undefined
  }
}

/**
 * Without a daemon, this home's own store, read as it is: a home (or a store) that does not exist
 * holds no blob, and is not created by looking.
 */
async function localSource (home: string, hash: string): Promise<AsyncIterable<Uint8Array>> {
  const dir = homePaths(home).blobs
  const { BlobNotFoundError } = await import('../../store/errors.js')
  if (!existsSync(dir)) throw new BlobNotFoundError(hash)
  const { FsBlobStore } = await import('../../store/blobs/index.js')
  const store = new FsBlobStore({}, { dir })
  await store.start()
  try {
    await store.stat(hash)
  } catch (err) {
    await store.stop()
    throw err
  }
  return (async function * () {
    try { yield * store.get(hash) } finally { await store.stop() }
  })()
}

/**
 * HASH, sha256:HASH, or JOB:PATH (an artefact of a job by its path, which also gives the file's
 * mode as the job left it)
 */
async function resolveRef (p: ReturnType<typeof parse>, ref: string): Promise<{ hash: string, mode?: number }> {
  const input = ref.trim().replace(/^sha256:/i, '')
  if (/^[0-9a-f]{64}$/i.test(input)) return { hash: parseHash(input) }
  const colon = input.indexOf(':')
  if (colon > 0) {
    const job = await p.ctx.client().show(input.slice(0, colon))
    const path = input.slice(colon + 1).replace(/^\.\//, '')
    const found = job.artefacts.find(a => a.path === path)
    if (found == null) {
      throw new UsageError(`job ${job.id.slice(0, 12)} has no artefact ${JSON.stringify(path)}${job.artefacts.length > 0 ? ` (it has ${job.artefacts.map(a => a.path).join(', ')})` : ''}`)
    }
    return { hash: found.sha256, mode: found.mode }
  }
  throw new UsageError(`${JSON.stringify(ref)} is not a sha256 hash (64 hex digits, optionally prefixed sha256:) nor JOB:PATH`)
}

/** a transfer cut off by the daemon names the blob */
async function * guarded (source: AsyncIterable<Uint8Array>, hash: string): AsyncGenerator<Uint8Array> {
  try {
    yield * source
  } catch (err: any) {
    if (err instanceof CliError || isKnownCode(err?.code)) throw err
    throw new CliError('ERR_FETCH_FAILED', `fetching blob ${hash} failed: ${String(err?.message ?? err)}`)
  }
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ output?: string }>(argv, { output: { type: 'string', short: 'o' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [ref] = positionals(p, ['HASH'], usage)
  const out = p.values.output
  if (p.ctx.json && (out == null || out === '-')) throw new UsageError('--json needs -o PATH: without it, stdout carries the blob\'s bytes')
  const { hash, mode } = await resolveRef(p, ref)
  const sha = createHash('sha256')
  let size = 0
  const progress = io.errIsTTY && out != null && out !== '-' && !p.ctx.json
  let lastShown = 0
  if (out == null || out === '-') {
    for await (const chunk of guarded(await source(p, hash, progress), hash)) { sha.update(chunk); size += chunk.byteLength; await io.raw(chunk) }
  } else {
    const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.part`)
    const fh = await open(tmp, 'w', 0o644)
    try {
      for await (const chunk of guarded(await source(p, hash, progress), hash)) {
        sha.update(chunk)
        size += chunk.byteLength
        await fh.write(chunk)
        if (progress && Date.now() - lastShown > 200) { lastShown = Date.now(); process.stderr.write(`\rfetching ${hash.slice(0, 12)}: ${bytes(size)}`) }
      }
      await fh.sync()
    } catch (err) {
      await fh.close()
      await unlink(tmp).catch(() => {})
      throw err
    }
    await fh.close()
    if (sha.copy().digest('hex') !== hash) {
      await unlink(tmp).catch(() => {})
      throw new CliError('ERR_HASH_MISMATCH', `blob ${hash} arrived corrupt: nothing was written`)
    }
    // an artefact gets its mode back (an executable stays executable); never more than rwx bits
    if (mode != null) await chmod(tmp, mode & ARTEFACT_MODE_MASK)
    await rename(tmp, out)
    if (progress) process.stderr.write('\r\x1b[K')
  }
  const actual = sha.digest('hex')
  if (actual !== hash) throw new CliError('ERR_HASH_MISMATCH', `blob ${hash} arrived corrupt (its bytes hash to ${actual})`)
  if (p.ctx.json) io.out(JSON.stringify({ sha256: hash, size, path: out, ...(mode != null ? { mode } : {}) }))
  else if (out != null && out !== '-') io.err(`cit-node: fetched ${hash} (${bytes(size)}) to ${out}`)
  return 0
}
