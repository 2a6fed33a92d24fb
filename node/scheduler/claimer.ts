import type { JobRow } from '../jobs/types.js'

export type ClaimResult = { ok: true, epoch: number, expiresAt: number } | { ok: false, reason: string, holder?: string }

/**
 * How a node gets the right to run a job. Alone, it just takes it (LocalClaimer); in a mesh it
 * claims a lease in the DHT after a delay given by its rank among eligible nodes (MeshClaimer).
 */
export interface Claimer {
  /** how long to wait before trying to claim, or why this node should not try now */
  plan: (row: JobRow) => { delayMs: number } | { skip: string }
  claim: (row: JobRow, signal: AbortSignal) => Promise<ClaimResult>
  /** keep the lease while the job runs; `onLost` fires if another node takes it over */
  keepAlive: (row: JobRow, epoch: number, expiresAt: number, onLost: (holder?: string) => void) => () => void
  /** whether this node still holds the lease: checked right before a result is published */
  holds: (row: JobRow, epoch: number, signal: AbortSignal) => Promise<boolean>
  /** a job another node claimed whose executor seems gone: worth trying to claim again */
  abandoned: (row: JobRow) => boolean
  /**
   * a job this node was running when its daemon stopped: true to put it back in the queue (in a
   * mesh, where any eligible member may run it again), false to record it as failed (alone)
   */
  requeueAfterRestart: (row: JobRow) => boolean
}

/** A node on its own runs every job it has; epoch 1 for each. */
export class LocalClaimer implements Claimer {
  plan (): { delayMs: number } { return { delayMs: 0 } }
  async claim (): Promise<ClaimResult> { return { ok: true, epoch: 1, expiresAt: Number.MAX_SAFE_INTEGER } }
  keepAlive (): () => void { return () => {} }
  async holds (): Promise<boolean> { return true }
  abandoned (): boolean { return false }
  requeueAfterRestart (): boolean { return false }
}
