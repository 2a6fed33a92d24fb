/**
 * The daemon's memory between bursts of work: `HeapReclaimer` runs one full collection when the
 * heap has grown and the daemon has gone quiet, and hands the native memory the work freed back to the
 * OS (`mallocTrim`, a small native helper) (see docs/benchmarks.md, idle RSS).
 */
export { HeapReclaimer, startReclaimer } from './reclaimer.js'
export type { HeapReclaimerComponents, HeapReclaimerInit } from './reclaimer.js'
export { fullCollection } from './collect.js'
export { mallocTrim } from './trim.js'
export { RECLAIM_CHECK_EVERY_MS, RECLAIM_GROWTH_BYTES, RECLAIM_QUIET_BYTES } from './constants.js'
