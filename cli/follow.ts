import { EXIT } from './errors.js'
import { isFinal } from '../protocols/job/records.js'
import { outcomeLine } from './output.js'
import { watchWaiting } from './waiting.js'
import { outputMode, writeConverted } from './plain.js'
import type { Backend } from './backend.js'
import type { Output } from './output.js'
import type { JobView } from '../node/jobs/types.js'

/** exit status for a finished job */
export function exitFor (job: JobView): number {
  return job.state === 'succeeded' ? EXIT.OK : EXIT.JOB_FAILED
}

/**
 * Show a job's terminal output live (when `follow`), then wait for its end and report it:
 * the `show` object with --json, a one-line outcome on stderr otherwise.
 */
export async function followAndWait (backend: Backend, id: string, io: Output, options: { follow: boolean, json: boolean, self?: string, signal?: AbortSignal, submitted?: JobView }): Promise<number> {
  // a job the submission answered finished (a result cache hit) has its outcome in that answer
  const known = options.submitted
  if (!options.follow && known?.id === id && isFinal(known.state)) return report(known, io, options)
  // people see why it waits and where it runs; scripts (--json) get only the result
  const stopWatching = options.json ? () => {} : watchWaiting(async ref => await backend.show(ref), id, io, { where: true, self: options.self, signal: options.signal })
  let job: JobView
  try {
    if (options.follow) {
      // the terminal's CRLF line ends become LF when the output goes to a pipe or a file
      await writeConverted(await backend.output(id, true, options.signal), outputMode({ plain: false, isTTY: io.isTTY }), async chunk => { await io.raw(chunk) })
    }
    job = await backend.wait(id, options.signal)
  } finally {
    stopWatching()
  }
  return report(job, io, options)
}

/** a finished job: the `show` object with --json, its outcome line otherwise; the exit status */
function report (job: JobView, io: Output, options: { json: boolean, self?: string }): number {
  if (options.json) io.out(JSON.stringify(job))
  else io.err(outcomeLine(job, options.self))
  return exitFor(job)
}

/** Ctrl-C while following: cancel the job (once), then stop waiting on a second press */
export function cancelOnInterrupt (backend: Backend, id: () => string | undefined, io: Output): () => void {
  let pressed = 0
  const onSignal = (): void => {
    pressed++
    const job = id()
    if (pressed === 1 && job != null) {
      io.err('cit-node: cancelling the job (Ctrl-C again to stop waiting)')
      void backend.cancel(job).catch(() => {})
    } else {
      process.exit(EXIT.JOB_FAILED)
    }
  }
  process.on('SIGINT', onSignal)
  return () => { process.off('SIGINT', onSignal) }
}
