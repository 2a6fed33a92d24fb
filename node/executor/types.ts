import type { JobSource } from '../../protocols/job/source.js'
import type { JobSpec } from '../../protocols/job/types.js'

export type Outcome = 'succeeded' | 'failed' | 'timed-out' | 'cancelled'

export interface Usage {
  wallMs: number
  /** user + system CPU of every process the job ran */
  cpuMs: number
  maxRssBytes: number
}

export interface ArtefactEntry {
  /** path relative to the workspace, with `/` separators */
  path: string
  sha256: string
  size: number
  /** its permission bits (`fetch -o` gives them back: an executable stays executable) */
  mode: number
}

/** a match or a glob that was not stored, and why (a symlink, outside the workspace, a bad glob) */
export interface RefusedArtefact {
  /** the path relative to the workspace, or the glob itself when the glob was refused */
  path: string
  reason: string
  /** a file that was fine to keep but the blob store could not take (a full disk, an I/O error): the run fails */
  storeFailed?: boolean
}

/** a limit the job ran into (see Limits) */
export type LimitName = 'processes' | 'memory' | 'output'

export interface RunResult {
  outcome: Outcome
  /** exit code of the step that decided the outcome (0 on success; null when killed) */
  exitCode: number | null
  /** why the job failed, timed out or was cancelled; undefined on success */
  reason?: string
  usage: Usage
  /** sha256 of the asciicast v2 recording */
  log: string
  artefacts: ArtefactEntry[]
  /** artefact matches and globs that were refused (the executor always sets it) */
  refused?: RefusedArtefact[]
  /** limits the job hit while it ran, where the kernel reports it (the executor always sets it) */
  limitsHit?: LimitName[]
}

/** Limits against runaway jobs. Every field has a documented default (constants.ts). */
export interface Limits {
  /** most processes (tasks) alive at once in the job's tree */
  maxProcesses: number
  /** most bytes of terminal output recorded; past it the job is failed */
  maxOutputBytes: number
  /** largest file a job process may write (RLIMIT_FSIZE) */
  maxFileBytes: number
  /** memory limit of the job's tree where a memory cgroup is writable */
  maxMemoryBytes: number
}

export interface ProgressEvent {
  type: 'stage-started' | 'stage-finished' | 'step-started' | 'step-finished' | 'hook-started' | 'hook-finished'
  stage?: number
  step?: number
  title: string
  exitCode?: number | null
  at: number
}

export interface RunRequest {
  jobId: string
  spec: JobSpec
  /** resolved parameter values: become environment variables */
  params: Record<string, string>
  /** a triggered job: the commit checked out into the workspace before the first stage */
  source?: JobSource
  /** the build number (CIT_BUILD) */
  build?: number
  /** timeout override in ms (default spec.timeoutMs) */
  timeoutMs?: number
  /** aborting this cancels the job (outcome `cancelled`) */
  signal?: AbortSignal
  /**
   * When given, the executor prepares the run (workspace, sandbox) meanwhile and starts the
   * job's first process only once this resolves; if it rejects, nothing runs (outcome
   * `cancelled`). The runner records `started` this way without delaying the setup.
   */
  ready?: Promise<void>
  /** terminal output as it happens, as a terminal shows it, in buffers the listener may keep */
  onOutput?: (data: Uint8Array) => void
  /**
   * terminal output as read, cheaper than `onOutput`: the bytes are valid only during the call
   * (the pty's read buffer is reused, copy what you keep), and with `onlcr` each `\n` in them is
   * shown as `\r\n` (the kernel's translation is off; the listener does it for what it passes on)
   */
  onRawOutput?: (data: Uint8Array, onlcr: boolean) => void
  onProgress?: (event: ProgressEvent) => void
}
