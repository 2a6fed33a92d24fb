/** a signal that aborts with the first of its sources, and what lets go of them */
export interface LinkedSignal {
  signal: AbortSignal
  /** remove the listeners on the sources and the timer: call it once the signal is no longer needed */
  dispose: () => void
}

/**
 * A signal that aborts when any of `signals` does (with its reason), or after `timeoutMs` with a
 * `TimeoutError` as `AbortSignal.timeout` gives. For a source that outlives the call (a service's
 * lifetime, a connection's): Node.js 20's `AbortSignal.any` adds a WeakRef to such a source for
 * every signal made from it and never removes it, about 70 bytes a call that a daemon kept for
 * good, a few per job. This one listens on the sources and lets go of them in `dispose()`.
 */
export function linkedSignal (signals: ReadonlyArray<AbortSignal | undefined>, timeoutMs?: number): LinkedSignal {
  const controller = new AbortController()
  const sources = signals.filter((s): s is AbortSignal => s != null)
  let timer: ReturnType<typeof setTimeout> | undefined
  const dispose = (): void => {
    for (const s of sources) s.removeEventListener('abort', onAbort)
    clearTimeout(timer)
  }
  function onAbort (this: AbortSignal): void {
    dispose()
    controller.abort(this.reason)
  }
  const already = sources.find(s => s.aborted)
  if (already != null) {
    controller.abort(already.reason)
    return { signal: controller.signal, dispose: () => {} }
  }
  for (const s of sources) s.addEventListener('abort', onAbort, { once: true })
  if (timeoutMs != null) {
    timer = setTimeout(() => {
      dispose()
      controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
    }, timeoutMs)
    // like AbortSignal.timeout, it never keeps a process alive
    timer.unref?.()
  }
  return { signal: controller.signal, dispose }
}
