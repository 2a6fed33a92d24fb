/** Defaults of artefact downloads. Units are in the names. */

const MiB = 1024 * 1024

/** a download is split into ranges of this size (raised for huge blobs, see FETCH_MAX_RANGES) */
export const FETCH_RANGE_BYTES = 32 * MiB
/** ranges per blob at most: above FETCH_MAX_RANGES × FETCH_RANGE_BYTES ranges grow, so bookkeeping stays small */
export const FETCH_MAX_RANGES = 4096
/** range requests in flight at once for one download, over all holders */
export const FETCH_MAX_PARALLEL = 6
/** range requests in flight at once to one holder */
export const FETCH_PER_HOLDER_PARALLEL = 2
/** failed requests (timeouts, resets, busy) after which a holder is no longer used for this download */
export const FETCH_MAX_HOLDER_FAILURES = 3
/** asking a holder whether it has the blob, and its size */
export const FETCH_PROBE_TIMEOUT_MS = 10_000
/**
 * A blob whose hinted holders (the executor named by its signed result) have it is fetched from
 * them alone when smaller than this; a larger one also draws from the holders the DHT knows,
 * whose lookup costs little beside the transfer.
 */
export const FETCH_HINTED_ONLY_BYTES = 64 * MiB
/** result blobs whose holders (from the signed results seen) are remembered, newest first */
export const RESULT_HOLDERS_MAX_BLOBS = 4096
/**
 * how long a fetch that found no holder (no result named the blob, the DHT had none) waits for a
 * result that names it: whoever asks right after a job finished (its submitter, a script that
 * fetches the artefact at once) may be ahead of the result's gossip to the fetching node, and the
 * executor's provider records wait for a quiet spell
 */
export const FETCH_HINT_WAIT_MS = 5_000
/** the newest stored jobs whose results are read into that map when a node starts */
export const RESULT_HOLDERS_SEED_JOBS = 1024

/** subdirectory of the fetcher's dir holding unfinished downloads: `<hash>.part` and `<hash>.json` */
export const PARTIAL_DIR_NAME = 'partial'
/** the progress record of a partial download is written at most this often (and when the download stops) */
export const SIDECAR_SAVE_INTERVAL_MS = 1_000
/** progress callbacks at most this often while bytes arrive (range completions always report) */
export const PROGRESS_INTERVAL_MS = 100
/** bytes read per chunk when hashing a finished download */
export const VERIFY_CHUNK_BYTES = MiB
/** received bytes of one range request queued for the disk at most; the request waits while more are */
export const WRITE_BEHIND_BYTES = 8 * MiB
