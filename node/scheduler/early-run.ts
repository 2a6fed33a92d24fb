/**
 * A run set up while its claim is in flight. The node that tries a job first (its rank's delay
 * is 0) has the executor prepare the run (workspace lock, sandbox, cgroup) at once, gated: the
 * job's first process starts only once the claim has won and `started` is recorded. A claim that
 * does not win calls the run off: the executor closes what it set up and keeps nothing (no
 * recording, no result). The sandbox is the job's own either way, made for this run only.
 */
import type { RunOutcome } from './claimer.js'

/** where a run's output goes, and when its run began and its start was recorded (for the debug log) */
export interface OutputSink {
  /** output as read (the executor's `onRawOutput`: valid during the call, `\n` shown as `\r\n` with `onlcr`) */
  onOutput: (data: Uint8Array, onlcr: boolean) => void
  /** when the run began (performance.now()) */
  t0: number
  /** how long after t0 its `started` record was stored */
  startedMs: number
}

/** a run set up while its claim is in flight */
export interface EarlyRun {
  running: Promise<RunOutcome>
  sink: OutputSink
  /** let the run start once `ready` (the `started` record) resolves; if it rejects, nothing runs */
  open: (ready: Promise<void>) => void
  /** the claim did not win: tear the run down; resolves once the executor has let go of it */
  callOff: () => Promise<void>
}

/** an output sink passing data on to `push`, telling `onFirst` when the first byte came */
export function outputSink (push: (data: Uint8Array, onlcr: boolean) => void, onFirst: (startedMs: number, spawnToOutputMs: number) => void): OutputSink {
  let first = true
  const sink: OutputSink = {
    t0: performance.now(),
    startedMs: 0,
    onOutput: (data, onlcr) => {
      if (first) {
        first = false
        onFirst(Math.round(sink.startedMs), Math.round(performance.now() - sink.t0 - sink.startedMs))
      }
      push(data, onlcr)
    }
  }
  return sink
}

/**
 * Start `execute` now with a gate for its `ready`. `controller` is the run's: calling the run off
 * aborts it after rejecting the gate, so the executor sees a called-off run (ERR_RUN_CALLED_OFF)
 * rather than a cancel.
 */
export function prepareRun (sink: OutputSink, controller: AbortController, execute: (sink: OutputSink, gate: Promise<void>) => Promise<RunOutcome>): EarlyRun {
  let open!: (ready: Promise<void>) => void
  let shut!: (err: Error) => void
  const gate = new Promise<void>((resolve, reject) => { open = resolve; shut = reject })
  // a rejection nobody awaits yet (the executor reads the gate only once the sandbox is up)
  gate.catch(() => {})
  const running = execute(sink, gate)
  let off: Promise<void> | undefined
  return {
    running,
    sink,
    open,
    callOff: async () => {
      off ??= (async () => {
        const why = new Error('the claim did not win')
        shut(why)
        controller.abort(why)
        await running
      })()
      await off
    }
  }
}
