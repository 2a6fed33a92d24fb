import { EXIT } from './errors.js'
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
export async function followAndWait (backend: Backend, id: string, io: Output, options: { follow: boolean, json: boolean, self?: string, signal?: AbortSignal }): Promise<number> {
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
