/**
 * Nix jobs: a `.nix` file evaluated on the submitter's machine becomes a job whose work is one
 * derivation; the daemon of the member that claims it imports the derivation's closure (fetched
 * by hash), realises it and exports each output's closure into the content store, so the mesh
 * is the binary cache; `NixCache` serves those outputs to Nix itself over the HTTP face (narinfo
 * and NAR, signed with the node's key). docs/nix.md describes the whole path.
 */
import { NIX_LABEL } from './constants.js'
import type { NixConfig } from '../config/config.js'
import type { NixTool } from './tool.js'

export { NixTool } from './tool.js'
export type { NixToolInit, NixStoreMode } from './tool.js'
export { NixBuilds } from './builder.js'
export type { NixRunResult } from './builder.js'
export { NixService } from './service.js'
export type { NixSubmitBody, NixImportReport } from './service.js'
export { exportClosure, importClosure } from './closures.js'
export { NixCache, NIX_STORE_DIR, NIX_CACHE_PRIORITY, MAX_INDEXED_PATHS } from './cache.js'
export type { NixCacheComponents, NixCacheInit } from './cache.js'
export { CacheKey, verifyNixSignature, CACHE_SECRET_FILE, CACHE_PUBLIC_FILE } from './cache-key.js'
export { readExport } from './export-reader.js'
export type { ExportEntry } from './export-reader.js'
export { toNixBase32, narHashText, hashPartOf, STORE_HASH_PART } from './base32.js'
export * from './constants.js'
export * from './errors.js'

/** whether this node offers the `nix` label: Nix answers here and the config does not turn it off */
export async function offersNix (config: { labels: string[], nix?: NixConfig }, tool: NixTool): Promise<boolean> {
  if (config.nix?.enabled === false || config.labels.includes(NIX_LABEL)) return false
  return await tool.version() != null
}
