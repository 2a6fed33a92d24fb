import { where } from './output.js'
import type { Output } from './output.js'
import type { JobView } from '../node/jobs/types.js'

/** how often a waiting job is looked at again */
export const WAIT_POLL_MS = 1000

export interface WatchOptions {
  /** the node the CLI talks to: its own id is said as "this node" */
  self?: string
  /** also say where the job runs once it has left the queue (once per executor) */
  where?: boolean
  signal?: AbortSignal
}

/**
 * While a job waits, say why on stderr (people, not scripts: never with --json), and keep it up
 * to date: on a terminal one line rewritten in place, otherwise a line each time the reason
 * changes (figures aside). With `where`, say where it runs once claimed. Returns a function that stops watching
 * (and clears the line on a terminal); it also stops when the job is final.
 */
export function watchWaiting (show: (id: string) => Promise<JobView>, id: string, io: Output, options: WatchOptions = {}): () => void {
  let stopped = false
  let shown = ''
  let onLine = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const say = (text: string): void => {
    // a log gets a new line when the reason changes, not each time a load figure in it moves
    const key = io.errIsTTY ? text : text.replace(/\d+(\.\d+)?/g, '#')
    if (key === shown) return
    shown = key
    if (io.errIsTTY) {
      process.stderr.write(`\r\x1b[K${text}`)
      onLine = true
    } else {
      io.err(text)
    }
  }
  const clear = (): void => {
    if (onLine) process.stderr.write('\r\x1b[K')
    onLine = false
  }
  const tick = async (): Promise<void> => {
    if (stopped) return
    let job: JobView | undefined
    try { job = await show(id) } catch {}
    if (stopped) return
    if (job?.state === 'queued') say(`cit-node: ${job.name} is queued: ${job.reason ?? 'waiting to be claimed'}`)
    else if (job != null && (job.state === 'claimed' || job.state === 'running')) {
      if (options.where === true && job.executor != null) {
        say(`cit-node: ${job.name} is running on ${where(job.executor, options.self)}`)
        if (io.errIsTTY) { process.stderr.write('\n'); onLine = false }
      } else clear()
    } else if (job != null) { stop(); return }
    timer = setTimeout(() => { void tick() }, WAIT_POLL_MS)
  }
  const stop = (): void => {
    stopped = true
    if (timer != null) clearTimeout(timer)
    clear()
  }
  options.signal?.addEventListener('abort', stop, { once: true })
  void tick()
  return stop
}
