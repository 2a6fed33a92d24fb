/**
 * The executor: runs one job on this node. Each step and hook is `SHELL -c COMMAND` in its own
 * pseudo-terminal, in the workspace of the job's name, inside a cgroup per run (pids, memory,
 * CPU accounting) or, where none is writable, rlimits and /proc. Output is recorded as asciicast
 * v2 and stored by hash; artefacts matched by the job's globs are stored too.
 * docs/executor.md describes the behaviour in full.
 */
export { Executor } from './executor.js'
export type { ExecutorComponents, ExecutorInit } from './executor.js'
export { DEFAULT_LIMITS, resolveLimits, WRAPPER_FAILED_EXIT } from './limits.js'
export * from './constants.js'
export * from './errors.js'
export type * from './types.js'
