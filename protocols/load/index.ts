/**
 * Load reports: every node gossips what it offers (load, cores, memory, free slots, labels,
 * state, running jobs, addresses) every LOAD_INTERVAL_MS, signed like every other message.
 */
export * from './report.js'
