/**
 * Load reports: every node gossips what it offers (load, cores, memory, free slots, labels,
 * state, running jobs, addresses) when it changed (looked at every LOAD_CHECK_INTERVAL_MS, with noise
 * below LOAD1_CHANGE, LOAD1_CHANGE_RATIO or MEM_FREE_CHANGE_BYTES ignored) and at least every idle heartbeat, signed
 * like every other message. A node silent for LOAD_SILENT_AFTER_MS is unreachable.
 */
export * from './report.js'
