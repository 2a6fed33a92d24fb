/**
 * Defaults and fixed values of the executor, each with its unit. docs/executor.md lists the
 * limits: change one here and update the docs.
 */

/** most processes alive at once in a job's tree (pids cgroup `pids.max`; `ulimit -u` fallback) */
export const DEFAULT_MAX_PROCESSES = 1024

/** 64 MiB of terminal output: far more than a readable log, small enough to store and replay */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024

/** 4 GiB: the largest file a job process may write (RLIMIT_FSIZE, set with `ulimit -f`) */
export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 ** 3

/** 8 GiB: memory (RSS + page cache charged to the job) where a memory cgroup is writable */
export const DEFAULT_MAX_MEMORY_BYTES = 8 * 1024 ** 3

/** after SIGTERM, processes get this long to exit before SIGKILL */
export const DEFAULT_GRACE_MS = 3000

/**
 * The job's onFailure hook still runs after a timeout, a cancel or the output limit, capped at
 * this: long enough to send a notification, short enough not to hold up a stopping daemon.
 */
export const FINAL_HOOK_TIMEOUT_MS = 10_000

/** terminal size of a job that nobody has resized */
export const DEFAULT_COLS = 120
export const DEFAULT_ROWS = 40
/** bounds of a terminal size given to `resize` */
export const MAX_TERMINAL_COLS = 1000
export const MAX_TERMINAL_ROWS = 1000

export const TERM_NAME = 'xterm-256color'

/** PATH for the job when the daemon has none */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
/** LANG for the job when the daemon has none */
export const DEFAULT_LANG = 'C.UTF-8'

/**
 * Variables copied from the daemon's environment into every job (when set). Everything else of
 * the daemon's environment stays out: it may hold secrets meant for the daemon alone.
 */
export const PASSED_ENV: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR',
  'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY',
  'SSL_CERT_FILE', 'SSL_CERT_DIR'
]

/**
 * Pagers off: a step runs in a terminal, so `git log`, `man`, `systemctl`, `psql` and friends
 * would open `less` and wait for a key until the job times out (and even a short `git log`
 * leaves less's keypad-mode sequence `ESC[?1h ESC=` in the log: less sends it when it starts,
 * before it sees the output fits one screen and quits). A job that wants a pager sets its own
 * (a param of the same name), and a daemon's `passEnv` value wins over these.
 */
export const NO_PAGER_ENV: Readonly<Record<string, string>> = {
  PAGER: 'cat',
  GIT_PAGER: 'cat',
  MANPAGER: 'cat',
  SYSTEMD_PAGER: 'cat',
  PSQL_PAGER: 'cat',
  GH_PAGER: 'cat',
  AWS_PAGER: ''
}

/** shells tried, in order, for the job's commands: bash for the scripts people write, sh everywhere else */
export const SHELL_CANDIDATES: readonly string[] = ['/bin/bash', '/usr/bin/bash', '/bin/sh']
/** the shell that runs the containment wrapper before the job's shell is exec'd (POSIX sh) */
export const WRAPPER_SHELL = '/bin/sh'
/** where `stty` is looked for (the wrapper turns off the kernel's slow output processing) */
export const STTY_CANDIDATES: readonly string[] = ['/bin/stty', '/usr/bin/stty']

/**
 * Printed by the step wrapper after the job's shell has exited (an OSC sequence terminals
 * ignore; the executor strips it). Seeing it means every byte the step wrote has been read.
 */
export const STEP_END_SENTINEL = '\x1b]7700;cit-step-end\x07'

/**
 * Printed by a step launcher started ahead of its step (`--hold`) once it is in the job's cgroups
 * and waits for its go line; the executor strips it, and only before the go (no job code runs
 * before it, so none can print it then)
 */
export const STEP_READY_MARKER = '\x1b]7700;cit-step-ready\x07'

/**
 * Output read within this long of an output event's first byte joins that event (one JSON line
 * for many small pty reads, each about 4 KB); live watchers still get every read at once
 */
export const RECORDER_EVENT_MS = 10
/** ...and an output event holds at most this many bytes of output */
export const RECORDER_EVENT_BYTES = 64 * 1024
/** translated output is written into slabs of this size, never reused (watchers may keep views of it) */
export const OUTPUT_SLAB_BYTES = 256 * 1024
/** recordings are written in batches of about this many bytes... */
export const RECORDER_BATCH_BYTES = 256 * 1024
/** ...or after this long, whichever comes first */
export const RECORDER_FLUSH_MS = 50
/** the pty is paused while more than this is waiting to reach the recording file... */
export const RECORDER_HIGH_WATER_BYTES = 4 * 1024 * 1024

/**
 * ...but never for longer than this at a time: once the step has exited, node-pty gives the pty
 * 200 ms to be read to its end before it throws the rest away, so the reader must keep moving
 * (memory then grows by at most one pty buffer per pause while the disk lags)
 */
export const RECORDER_MAX_PAUSE_MS = 50

/** how often the job's processes are checked while waiting for them to die */
export const KILL_POLL_MS = 20
/** removing an emptied cgroup is retried this long (the kernel releases it a moment after the last exit) */
export const CGROUP_REMOVE_TIMEOUT_MS = 5000

/** /proc sampling interval for usage where no cgroup accounts for it */
export const USAGE_SAMPLE_MS = 250
/** /proc/<pid>/stat times are in USER_HZ ticks, fixed at 100 on Linux */
export const CLOCK_TICKS_PER_SECOND = 100

/** most files stored as artefacts of one run; past it the rest are refused */
export const MAX_ARTEFACT_FILES = 10_000

/** name of the directory in workspacesDir that holds recordings in progress (job names never start with `.`) */
export const TEMP_DIR_NAME = '.tmp'
