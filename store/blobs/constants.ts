/**
 * Defaults and fixed names of the blob store. Sizes are in bytes, modes are octal file permissions.
 */

/** the only hash the store names blobs by */
export const HASH_ALGORITHM = 'sha256'

/** hex digits in a sha256 digest */
export const HASH_HEX_LENGTH = 64

/** the optional prefix accepted (case-insensitively) in front of a hash: `sha256:<hex>` */
export const HASH_PREFIX = 'sha256:'

/** subdirectory of the store's dir holding blobs, named after the hash so another algorithm could sit beside it */
export const BLOBS_DIR_NAME = 'sha256'

/** subdirectory for writes in progress; on the same filesystem as the blobs so rename is atomic */
export const TMP_DIR_NAME = 'tmp'

/** subdirectory where blobs that failed verification are moved so they are never served again */
export const QUARANTINE_DIR_NAME = 'quarantine'

/** hex digits of the hash used as the fan-out directory name (256 directories) */
export const FANOUT_HEX_DIGITS = 2

/** stored blobs are read-only: nothing should ever edit bytes that are named by their hash */
export const BLOB_FILE_MODE = 0o444

/** mode of a temp file while it is being written (only the owner may touch an unfinished blob) */
export const TMP_FILE_MODE = 0o600

/** bytes of random name for a temp file (as hex, twice as many characters) */
export const TMP_NAME_BYTES = 12

/** bytes read from disk per chunk when streaming a blob out */
export const READ_CHUNK_BYTES = 256 * 1024

/**
 * A blob verified whole is not hashed again by `verify` for this long while its file is the same
 * (inode, size, modification time): a ranged download asks for it once per request.
 */
export const VERIFIED_FOR_MS = 10 * 60_000
/** blobs remembered as verified at most (the least recently verified is forgotten first) */
export const MAX_VERIFIED_REMEMBERED = 4096
/** a blob is remembered as verified only if its file was last changed at least this long before */
export const STABLE_BEFORE_MS = 1000
