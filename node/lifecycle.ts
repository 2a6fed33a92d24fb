import type { Logger } from '../store/logger.js'

/** how long a fatal error waits for the daemon to stop before the process exits anyway */
export const FATAL_STOP_MS = 5000
/** the exit status of a daemon stopped by an error nothing caught */
export const EXIT_INTERNAL = 70

/**
 * The daemon's last resort: an error nothing caught (a rejected promise nobody awaited, an
 * exception in a callback) is logged to the daemon log with its stack, the daemon is stopped
 * (at most FATAL_STOP_MS: whatever broke may hang it) and the process exits with status 70.
 * Returns the function that removes the handlers.
 */
export function installCrashHandlers (log: () => Logger | undefined, stop: () => Promise<void>, exit: (code: number) => void = code => process.exit(code)): () => void {
  let fatal = false
  const onFatal = (kind: string) => (err: unknown): void => {
    log()?.error(`${kind}: the daemon stops`, { err })
    if (fatal) return
    fatal = true
    const timer = setTimeout(() => { exit(EXIT_INTERNAL) }, FATAL_STOP_MS)
    timer.unref?.()
    stop().catch(() => {}).finally(() => { clearTimeout(timer); exit(EXIT_INTERNAL) })
  }
  const onRejection = onFatal('unhandled rejection')
  const onException = onFatal('uncaught exception')
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return () => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
  }
}
