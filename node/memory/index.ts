/**
 * The daemon's memory between bursts of work: `HeapReclaimer` runs one full collection when the
 * heap has grown and the daemon has gone quiet (see docs/benchmarks.md, idle RSS).
 */
export { HeapReclaimer, startReclaimer } from './reclaimer.js'
export type { HeapReclaimerComponents, HeapReclaimerInit } from './reclaimer.js'
export { fullCollection } from './collect.js'
export { RECLAIM_CHECK_EVERY_MS, RECLAIM_GROWTH_BYTES, RECLAIM_QUIET_BYTES } from './constants.js'
