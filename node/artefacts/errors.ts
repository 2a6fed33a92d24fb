/**
 * Errors of artefact downloads, matched on `code`. Errors of one holder's request (ERR_REMOTE,
 * ERR_TIMEOUT, …) are not thrown from a download: they make it use another holder, and appear
 * in `failures` of ERR_NO_HOLDERS when no holder is left.
 */
export class ArtefactError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ArtefactError'
    this.code = code
  }
}

/** nobody could be found or used to download the blob from */
export class NoHoldersError extends ArtefactError {
  constructor (readonly hash: string, readonly failures: Record<string, string> = {}) {
    const tried = Object.entries(failures).map(([peer, code]) => `${peer}: ${code}`).join(', ')
    super('ERR_NO_HOLDERS', tried === '' ? `no holder of ${hash} found` : `no holder could serve ${hash} (${tried})`)
    this.name = 'NoHoldersError'
  }
}

/**
 * The downloaded bytes do not hash to the name and no other holder is left to repair the
 * download from. `suspects` sent bytes that disagree with another holder's, or sent it all.
 */
export class UnrepairableDownloadError extends ArtefactError {
  constructor (readonly hash: string, readonly actual: string, readonly suspects: string[]) {
    super('ERR_HASH_MISMATCH', `download of ${hash} hashes to ${actual} and no other holder is left to repair it from`)
    this.name = 'UnrepairableDownloadError'
  }
}

/** writing the download to local disk failed; the cause is the system error */
export class DownloadWriteError extends ArtefactError {
  constructor (message: string, cause: unknown) {
    super('ERR_WRITE_FAILED', message, { cause })
    this.name = 'DownloadWriteError'
  }
}

/** the fetcher is not started, or was stopped (the partial download is kept for a resume) */
export class FetcherStoppedError extends ArtefactError {
  constructor (message = 'the fetcher is not running') {
    super('ERR_STOPPED', message)
    this.name = 'FetcherStoppedError'
  }
}

/** an option of the fetcher or of a fetch is not valid */
export class InvalidFetcherOptionError extends ArtefactError {
  constructor (message: string) {
    super('ERR_INVALID_ARGUMENT', message)
    this.name = 'InvalidFetcherOptionError'
  }
}
