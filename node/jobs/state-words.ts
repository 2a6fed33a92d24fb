import type { JobState } from '../../protocols/job/records.js'

const WORDS: Record<JobState, string> = {
  queued: 'is queued',
  claimed: 'is claimed',
  running: 'is running',
  succeeded: 'has succeeded',
  failed: 'has failed',
  'timed-out': 'has timed out',
  cancelled: 'was cancelled',
  superseded: 'was superseded'
}

/** a job's state as said in a sentence: "job X has succeeded", "… was cancelled", "… is running" */
export function stateWords (state: JobState): string {
  return WORDS[state] ?? `is ${String(state)}`
}
