import { castOutput } from './recording.js'
import type { OutputStream } from '../control/types.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'
import type { Exchange } from '../transfer/exchange.js'
import type { JobService } from './job-service.js'
import type { JobRow } from './types.js'

/** how long a remote scrollback replay waits for more before it counts as complete */
export const REPLAY_QUIET_MS = 300
/** a replay of a remote job's scrollback takes at most this long */
export const REPLAY_MAX_MS = 5_000
/** how long output of a job its executor no longer runs waits for the job's result to arrive */
export const FINAL_WAIT_MS = 10_000

/**
 * A job's terminal output wherever it ran: the live scrollback here, a read-only attach session
 * to the executor while it runs elsewhere, or the stored recording (fetched from its holders).
 */
export class JobOutputs {
  constructor (private readonly c: { jobs: JobService, blobs: BlobStore, exchange?: Exchange, self: string, logger: Logger }) {}

  async output (ref: string, follow: boolean, signal?: AbortSignal): Promise<OutputStream> {
    let row = await this.c.jobs.resolve(ref)
    const live = this.c.jobs.liveOutput(row.id)
    if (live != null) {
      if (follow) return { replay: [], follow: (onData, onEnd) => live.subscribe({ data: onData, end: onEnd }) }
      const chunks: Uint8Array[] = []
      live.subscribe({ data: c => { chunks.push(c) }, end: () => {} })()
      return { replay: chunks }
    }
    if (follow && (row.state === 'queued' || row.state === 'claimed')) {
      // wait for it to start (or finish without running), then stream from the start
      row = await this.waitStartOrEnd(row.id, signal)
      return await this.output(row.id, follow, signal)
    }
    if ((row.state === 'running' || row.state === 'claimed') && row.executor != null && row.executor !== this.c.self && this.c.exchange != null) {
      try {
        return await this.remote(row.id, row.executor, follow)
      } catch (err: any) {
        // the executor finished the job before our stream reached it; its result is on its way
        // here by gossip: the recording is the whole output
        if (err?.code !== 'ERR_NOT_RUNNING') throw err
        this.c.logger.debug('executor no longer runs the job: using its recording', { job: row.id })
        row = await this.waitFinal(row.id, FINAL_WAIT_MS)
      }
    }
    if (row.log == null) return { replay: [] }
    // the recording may be on the node that ran the job: fetch it from whoever holds it
    await this.c.exchange?.ensureLocal(row.log)
    return { replay: castOutput(this.c.blobs.get(row.log)) }
  }

  /**
   * A job running on another member: a read-only attach session to its executor gives the
   * recent scrollback, then (with follow) the live output until the job ends.
   */
  private async remote (id: string, executor: string, follow: boolean): Promise<OutputStream> {
    const t = Date.now()
    const session = await this.c.exchange!.open(id, executor, 'ro', {})
    this.c.logger.debug('remote output session opened', { job: id, ms: Date.now() - t })
    const frames = session.output[Symbol.asyncIterator]()
    if (!follow) {
      // the scrollback arrives at once; stop when the stream pauses, or at the latest after
      // REPLAY_MAX_MS (a job printing without pause would otherwise keep this loop going)
      const chunks: Uint8Array[] = []
      const until = Date.now() + REPLAY_MAX_MS
      let timer: ReturnType<typeof setTimeout> | undefined
      try {
        while (Date.now() < until) {
          const quiet = new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, REPLAY_QUIET_MS) })
          const next = await Promise.race([frames.next(), quiet])
          clearTimeout(timer)
          if (next == null || next.done === true || next.value.type === 'end') break
          if (next.value.type === 'output') chunks.push(next.value.data)
        }
      } finally {
        clearTimeout(timer)
        await session.detach().catch(err => { this.c.logger.debug('detach after a replay failed', { job: id, err }) })
      }
      return { replay: chunks }
    }
    return {
      replay: [],
      follow: (onData, onEnd) => {
        let stopped = false
        let first = true
        void (async () => {
          try {
            for (;;) {
              const next = await frames.next()
              if (stopped || next.done === true) break
              if (next.value.type === 'output') {
                if (first) this.c.logger.debug('remote output: first bytes', { job: id })
                first = false
                onData(next.value.data)
              }
              if (next.value.type === 'end') break
            }
          } catch (err) {
            this.c.logger.debug('remote output ended', { job: id, err })
          } finally {
            onEnd()
          }
        })()
        return () => {
          stopped = true
          session.detach().catch(err => { this.c.logger.debug('detach of a follower failed', { job: id, err }) })
        }
      }
    }
  }

  /** the job once final here, or as it is after `ms` */
  private async waitFinal (id: string, ms: number): Promise<JobRow> {
    const signal = AbortSignal.timeout(ms)
    try {
      return await this.c.jobs.waitFinal(id, { signal })
    } catch {
      return (await this.c.jobs.get(id))!
    }
  }

  /** the job once it has started or ended; rejects, and stops listening, when `signal` aborts (the viewer left) */
  private async waitStartOrEnd (id: string, signal?: AbortSignal): Promise<JobRow> {
    return await new Promise((resolve, reject) => {
      const done = (): void => {
        this.c.jobs.off('change', check)
        signal?.removeEventListener('abort', onAbort)
      }
      const check = (row: JobRow | undefined): void => {
        if (row != null && row.id === id && row.state !== 'queued' && row.state !== 'claimed') {
          done()
          resolve(row)
        }
      }
      const onAbort = (): void => { done(); reject(signal?.reason ?? new Error('aborted')) }
      if (signal?.aborted === true) { onAbort(); return }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.c.jobs.on('change', check)
      this.c.jobs.get(id).then(check, err => { done(); reject(err) })
    })
  }
}
