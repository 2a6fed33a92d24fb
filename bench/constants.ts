/**
 * Sizes, counts and deadlines of the benchmark, each with its unit. `full` is `npm run bench`;
 * `quick` is `npm run bench -- --quick` (about a minute). docs/benchmarks.md describes each figure.
 */

export interface Plan {
  /** nodes of the mesh that runs jobs */
  meshNodes: number
  /** jobs timed one at a time, submit → first output byte */
  dispatchJobs: number
  /** trivial jobs completed for the throughput figure */
  throughputJobs: number
  /** bytes a job prints through its terminal (before `fold` adds a newline every 100) */
  logBytes: number
  /** resubmissions timed for the cache figure */
  cacheRuns: number
  /** size of the artefact moved between nodes (and of the scp / TCP baselines) */
  fetchBytes: number
  /** keystroke round trips timed */
  echoSamples: number
  /** how long the mesh sits idle before RSS and CPU are read */
  idleMs: number
  /** mesh sizes for the announcement figure */
  announceSizes: number[]
  /** submissions timed per mesh size */
  announceRuns: number
  /**
   * how long a mesh may take until every node has heard every other node's load report; a larger
   * mesh gets CONVERGE_HEARTBEATS of its idle heartbeat if that is longer
   */
  convergeMs: number
  /** one-step jobs timed with and without the job sandbox */
  sandboxRuns: number
}

export const FULL: Plan = {
  meshNodes: 5,
  dispatchJobs: 200,
  throughputJobs: 500,
  logBytes: 200_000_000,
  cacheRuns: 50,
  fetchBytes: 1024 ** 3,
  echoSamples: 100,
  idleMs: 60_000,
  announceSizes: [20, 50],
  announceRuns: 20,
  convergeMs: 120_000,
  sandboxRuns: 40
}

export const QUICK: Plan = {
  meshNodes: 5,
  dispatchJobs: 30,
  throughputJobs: 60,
  logBytes: 50_000_000,
  cacheRuns: 10,
  fetchBytes: 128 * 1024 ** 2,
  echoSamples: 30,
  idleMs: 15_000,
  announceSizes: [10],
  announceRuns: 10,
  convergeMs: 20_000,
  sandboxRuns: 10
}

/**
 * Idle heartbeats a mesh of the announcement figure gets to form: the last node to join hears each
 * other node at that node's next report, which at rest is a heartbeat away (a node's idle
 * heartbeat grows with the mesh: 50 s at 50 nodes), and a report lost while the joiner's topic mesh
 * was forming costs one more.
 */
export const CONVERGE_HEARTBEATS = 4

/** every mesh size the figures are named after; sizes not run in a plan are reported as null */
export const ANNOUNCE_FIGURE_SIZES = [20, 50]

/** a daemon must answer its control socket within this long of being spawned */
export const DAEMON_START_TIMEOUT_MS = 60_000
/** after SIGTERM a daemon gets this long to exit before SIGKILL */
export const DAEMON_STOP_GRACE_MS = 10_000
/** daemons started at once while a mesh grows (each start costs ~1.3 s of one core) */
export const START_PARALLEL = 4
/**
 * libp2p refuses more than 5 inbound connections per second from one host, and every bench node
 * is 127.0.0.1: joins are spaced by this much, and batches of starts by RATE_WINDOW_MS
 */
export const JOIN_SPACING_MS = 250
export const RATE_WINDOW_MS = 1100
/** a join refused anyway is tried this many times in all */
export const JOIN_ATTEMPTS = 3
/** a node is not added while less memory than this is available */
export const MEMORY_RESERVE_BYTES = 1024 ** 3

/** one job's deadline (submit → final state) in the latency benches */
export const JOB_TIMEOUT_MS = 60_000
/** the 200 MB log job and the 1 GiB artefact job */
export const BIG_JOB_TIMEOUT_MS = 600_000
/** jobs in flight per node in the throughput bench, as a multiple of its slots */
export const THROUGHPUT_WINDOW_PER_SLOT = 3
/** the throughput bench as a whole */
export const THROUGHPUT_TIMEOUT_MS = 600_000

/** interval between polls of the control sockets while waiting for an announcement */
export const ANNOUNCE_POLL_MS = 5
/** interval between reads of the daemons' log files while waiting for an announcement */
export const ANNOUNCE_LOG_POLL_MS = 50
/** submissions timed by polling the control sockets, after those timed from the logs */
export const ANNOUNCE_POLL_RUNS = 5
/** one announcement must reach every node within this long, or the sample counts as lost */
export const ANNOUNCE_TIMEOUT_MS = 15_000
/** between submissions the job is given this long to finish (so measurements do not overlap) */
export const ANNOUNCE_JOB_WAIT_MS = 15_000
/** all the submissions at one mesh size: past this, the figure uses the samples it has */
export const ANNOUNCE_BUDGET_MS = 180_000

/**
 * admission threshold (load average per core) written into every bench home: all the daemons share
 * one machine's load average, which the bench itself (and anything else running) drives up, so the
 * default threshold would make every node refuse jobs at once
 */
export const BENCH_LOAD_LIMIT = 1000

/** output limit written into every bench home (the 200 MB log job exceeds the 64 MiB default) */
export const BENCH_MAX_OUTPUT_BYTES = 1024 ** 3

/** apt-get install of openssh, when allowed */
export const APT_TIMEOUT_MS = 300_000
/** one scp of the fetch payload */
export const SCP_TIMEOUT_MS = 600_000
/** one keystroke's echo */
export const ECHO_TIMEOUT_MS = 5_000

/** USER_HZ: /proc/<pid>/stat times are in these ticks on Linux */
export const CLOCK_TICKS_PER_SECOND = 100
