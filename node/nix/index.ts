/**
 * Nix jobs: a `.nix` file evaluated on the submitter's machine becomes a job whose work is one
 * derivation; the daemon of the member that claims it imports the derivation's closure (fetched
 * by hash), realises it and exports each output's closure into the content store, so the mesh
 * is the binary cache. docs/nix.md describes the whole path.
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
export * from './constants.js'
export * from './errors.js'

/** whether this node offers the `nix` label: Nix answers here and the config does not turn it off */
export async function offersNix (config: { labels: string[], nix?: NixConfig }, tool: NixTool): Promise<boolean> {
  if (config.nix?.enabled === false || config.labels.includes(NIX_LABEL)) return false
  return await tool.version() != null
}
