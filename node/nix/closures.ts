/**
 * Closures between the Nix store and the content store: an export (`nix-store --export` of a
 * path's closure) is stored as one blob named by its sha256; an import reads such a blob back,
 * verified in full first, so bytes that do not hash to their name never reach `nix-store`.
 */
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { NixClosureError } from './errors.js'
import type { BlobInfo, BlobStore } from '../../store/blobs/types.js'
import type { NixTool } from './tool.js'

/** Export the closure of `paths` into the blob store; returns the blob. */
export async function exportClosure (tool: NixTool, blobs: BlobStore, paths: string[], tmpDir: string, options: { signal?: AbortSignal } = {}): Promise<BlobInfo & { paths: string[] }> {
  const closure = await tool.closureOf(paths, options)
  await mkdir(tmpDir, { recursive: true })
  const file = join(tmpDir, `export-${randomUUID()}`)
  try {
    const out = createWriteStream(file, { flags: 'wx', mode: 0o600 })
    const closed = new Promise<void>((resolve, reject) => { out.once('close', resolve); out.once('error', reject) })
    await tool.exportPaths(closure, out, options)
    await closed
    // the store takes the file over: no copy, and it is gone from tmpDir whatever happens
    return { ...await blobs.adoptFile(file), paths: closure }
  } finally {
    await unlink(file).catch(() => {})
  }
}

/**
 * Import a closure blob into the Nix store. The whole blob is verified against its hash before
 * `nix-store` sees a byte (ERR_HASH_MISMATCH; the blob is quarantined), and read verified again.
 * `expect` names paths the closure must make valid (ERR_NIX_CLOSURE otherwise).
 */
export async function importClosure (tool: NixTool, blobs: BlobStore, hash: string, expect: string[], options: { signal?: AbortSignal } = {}): Promise<string[]> {
  await blobs.verify(hash, options)
  const imported = await tool.importPaths(blobs.get(hash, { signal: options.signal }), options)
  for (const path of expect) {
    if (!await tool.isValid(path, options)) throw new NixClosureError(`closure ${hash} does not hold ${path}`)
  }
  return imported
}
