/** how often the heap reclaimer looks at the heap */
export const RECLAIM_CHECK_EVERY_MS = 5000
/** the heap must have grown this much since the last full collection before one is worth its pause */
export const RECLAIM_GROWTH_BYTES = 8 * 1024 * 1024
/** a heap that grew less than this over one check is quiet: the burst of work is over */
export const RECLAIM_QUIET_BYTES = 2 * 1024 * 1024
