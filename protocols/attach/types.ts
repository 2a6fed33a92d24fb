import type { JobState } from '../job/records.js'

/** `ro` watches; `rw` also sends keys and resizes */
export type AttachMode = 'ro' | 'rw'

export interface TerminalSize {
  cols: number
  rows: number
}

/** how a job ended, as the end frame carries it */
export interface AttachEndState {
  /** the job's final state; `unknown` when its holder could not tell */
  state: JobState | 'unknown'
  /** exit code of the step that decided the outcome (null when killed or unknown) */
  exitCode: number | null
  reason?: string
}

/** why input or a resize was not delivered */
export const ATTACH_REFUSAL_CODES = ['ERR_READ_ONLY', 'ERR_RATE_LIMITED', 'ERR_NO_TERMINAL', 'ERR_NOT_RUNNING', 'ERR_INVALID_SIZE'] as const
export type AttachRefusalCode = typeof ATTACH_REFUSAL_CODES[number]

/** What a viewer receives, in order. Keepalive pings are handled inside the session. */
export type AttachFrame =
  /** terminal output bytes: first the scrollback's tail, then live */
  | { type: 'output', data: Uint8Array }
  /** the job's terminal was resized (by an rw session) */
  | { type: 'resize', cols: number, rows: number }
  /** this viewer fell behind: `dropped` output bytes were skipped; the scrollback's tail follows */
  | { type: 'resync', dropped: number }
  /** input or a resize this session sent was not delivered */
  | { type: 'refused', what: 'input' | 'resize', code: AttachRefusalCode }
  /** the job ended; the last frame */
  | { type: 'end' } & AttachEndState

/**
 * One attach session as a terminal uses it: what `attach()` returns. `output` ends after an
 * `end` frame or a detach, and throws a typed error if the session breaks.
 */
export interface AttachSessionLike {
  readonly mode: AttachMode
  readonly output: AsyncIterable<AttachFrame>
  /** send keys (rw only: ERR_READ_ONLY otherwise); paced to the node's input rate */
  write: (data: Uint8Array | string) => Promise<void>
  /** resize the job's terminal (rw only) */
  resize: (cols: number, rows: number) => Promise<void>
  /** leave the session; the job keeps running */
  detach: () => Promise<void>
}

/** the part of a job's live output the service uses (`node/jobs/live-output.ts` fits) */
export interface AttachOutputSource {
  /**
   * Calls `data` with the scrollback at once (synchronously, before returning), then with every
   * new chunk; `end` once the job's output has ended. Returns a function that unsubscribes.
   */
  subscribe: (sub: { data: (chunk: Uint8Array) => void, end: () => void }) => () => void
}

/** The node's jobs as the attach service sees them. */
export interface AttachJobs {
  /** the live output of a job running here; undefined when it is not running here */
  live: (job: string) => AttachOutputSource | undefined
  /** the job's state (final once its live output has ended) */
  state: (job: string) => AttachEndState | undefined | Promise<AttachEndState | undefined>
  /** keys to the job's terminal; false when no command is running at this moment; throws when the job is not running */
  write: (job: string, data: Uint8Array) => boolean
  /** resize the job's terminal; throws when the job is not running or the size is refused */
  resize: (job: string, cols: number, rows: number) => void
  /** the job's terminal size now, if known (otherwise the last size set through attach, else 120×40) */
  size?: (job: string) => TerminalSize | undefined
}

export type AuthorizeResult = { ok: true } | { ok: false, reason: string }

/** may this peer attach to this job in this mode? (`reason` is logged, never sent) */
export type AttachAuthorize = (peerId: string, job: string, mode: AttachMode) => AuthorizeResult | Promise<AuthorizeResult>
