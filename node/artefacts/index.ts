/**
 * Artefacts: blobs fetched by hash from whichever members hold them. `Fetcher` downloads a blob
 * from several holders at once (ranges over `/cit/fetch/1.0.0`), resumes an interrupted
 * download from its part file, verifies the whole before storing it, and finds out holders
 * that send bad bytes. See docs/artefacts.md.
 */
export { Fetcher } from './fetcher.js'
export type { FetcherComponents, FetcherInit, FetchOptions, FetchResult, HolderSource } from './fetcher.js'
export { ResultHolders } from './result-holders.js'
export type { ResultRef } from './result-holders.js'
export {
  ArtefactError, NoHoldersError, UnrepairableDownloadError, DownloadWriteError, FetcherStoppedError, InvalidFetcherOptionError
} from './errors.js'
export * from './constants.js'
