import { availableParallelism } from 'node:os'

/** default number of jobs a node runs at once: one per core */
export const DEFAULT_SLOTS = Math.max(1, availableParallelism())
