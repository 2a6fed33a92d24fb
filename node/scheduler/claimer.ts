import type { JobEvent } from '../../protocols/job/records.js'
import type { JobRow } from '../jobs/types.js'

/** a result the acceptors had accepted before this claim: finish with it instead of running the job */
export interface AdoptedResult {
  /** the node whose run it is */
  ran: string
  event: Pick<JobEvent, 'type' | 'state' | 'reason' | 'result'>
  outcome: string
}

export type ClaimResult =
  | { ok: true, epoch: number, cert?: Uint8Array[], adopt?: AdoptedResult }
  | { ok: false, reason: string, holder?: string, retryMs?: number }

export type FinishResult = { ok: true, cert?: Uint8Array[] } | { ok: false, reason: string, holder?: string }

/** what a run ended with, as its final event will say */
export type RunOutcome = Pick<JobEvent, 'type' | 'state' | 'reason' | 'result'> & { type: 'finished' | 'failed' }

/**
 * How a node gets the right to run a job and to publish its result. Alone, it just takes it
 * (LocalClaimer); in a mesh it claims a lease at the job's acceptors after a delay given by its
 * rank among eligible nodes, and its result counts only with their votes (MeshClaimer).
 */
export interface Claimer {
  /** how long to wait before trying to claim, or why this node should not try now */
  plan: (row: JobRow) => { delayMs: number } | { skip: string }
  claim: (row: JobRow, signal: AbortSignal) => Promise<ClaimResult>
  /** keep the lease while the job runs; `onLost` fires if it is lost or lapses */
  keepAlive: (row: JobRow, epoch: number, onLost: (reason: string) => void) => () => void
  /** have the run's outcome decided: the certificate to publish it with, or why it does not count */
  finish: (row: JobRow, epoch: number, outcome: RunOutcome | AdoptedResult, signal: AbortSignal) => Promise<FinishResult>
  /** give the lease up (a graceful stop): another node may claim the job at once */
  release: (row: JobRow, epoch: number) => Promise<void>
  /** a job another node claimed whose executor seems gone: worth trying to claim again */
  abandoned: (row: JobRow) => boolean
  /**
   * a job this node was running when its daemon stopped: true to put it back in the queue (in a
   * mesh, where it is claimed again at the next epoch), false to record it as failed (alone)
   */
  requeueAfterRestart: (row: JobRow) => boolean
  /** the job has ended (wherever it ran): let go of anything kept for it */
  forget?: (id: string) => void
}

/** A node on its own runs every job it has: the next epoch each time, no certificates. */
export class LocalClaimer implements Claimer {
  plan (): { delayMs: number } { return { delayMs: 0 } }
  async claim (row: JobRow): Promise<ClaimResult> { return { ok: true, epoch: (row.epoch ?? 0) + 1 } }
  keepAlive (): () => void { return () => {} }
  async finish (): Promise<FinishResult> { return { ok: true } }
  async release (): Promise<void> {}
  abandoned (): boolean { return false }
  requeueAfterRestart (): boolean { return false }
}
