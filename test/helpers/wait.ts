/** what a test waits on; the condition holds once `check` returns anything but undefined, null or false */
export interface WaitOptions {
  /** give up after this long (default 20 s) */
  timeoutMs?: number
  /** look again after this long (default 50 ms) */
  intervalMs?: number
  /** what is awaited, for the error on timeout */
  what?: string
}

/**
 * The one poll loop of the tests: calls `check` until it returns a value (anything but undefined,
 * null or false), which it resolves with, or until the deadline, when it throws naming `what`
 * and the last error `check` threw (a throw counts as "not yet").
 */
export async function waitFor<T> (check: () => T | Promise<T>, options: WaitOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000)
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== null && v !== false) return v as Exclude<T, undefined | null | false>
    } catch (err) {
      last = err
    }
    if (Date.now() >= deadline) break
    await new Promise(resolve => setTimeout(resolve, options.intervalMs ?? 50))
  }
  throw new Error(`timed out waiting for ${options.what ?? 'a condition'}${last != null ? `: ${String(last)}` : ''}`)
}
