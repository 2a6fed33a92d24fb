/** a signal that aborts with the first of its sources, and what lets go of them */
export interface LinkedSignal {
  signal: AbortSignal
  /** let go of the sources and the timer: call it once the signal is no longer needed */
  dispose: () => void
}

type Follower = (reason: unknown) => void

/**
 * Per source signal, the linked signals that follow it now: one `abort` listener per source
 * however many calls are in flight on it (a listener each would pass Node.js's limit of 10 and
 * warn of a leak that is not one).
 */
const followers = new WeakMap<AbortSignal, Set<Follower>>()

function follow (source: AbortSignal, follower: Follower): () => void {
  let set = followers.get(source)
  if (set === undefined) {
    const created = new Set<Follower>()
    set = created
    followers.set(source, created)
    source.addEventListener('abort', () => {
      followers.delete(source)
      for (const f of [...created]) f(source.reason)
    }, { once: true })
  }
  set.add(follower)
  const held = set
  return () => { held.delete(follower) }
}

/** a deadline for `linkedSignal`: after `ms`, abort with `reason()` (default: a `TimeoutError` as `AbortSignal.timeout` gives) */
export type LinkedTimeout = number | { ms: number, reason: () => unknown }

/**
 * A signal that aborts when any of `signals` does (with its reason), or once `timeout` has run
 * out. For a source that outlives the call (a service's lifetime, a connection's): Node.js 20's
 * `AbortSignal.any` adds a WeakRef to such a source for every signal made from it and never
 * removes it, about 70 bytes a call that a daemon kept for good, a few per job. This one follows
 * the sources and lets go of them in `dispose()` (and when it aborts). Undefined sources are
 * left out, so a caller's optional signal can be passed as it is.
 */
export function linkedSignal (signals: ReadonlyArray<AbortSignal | undefined>, timeout?: LinkedTimeout): LinkedSignal {
  const sources = signals.filter((s): s is AbortSignal => s != null)
  const controller = new AbortController()
  const already = sources.find(s => s.aborted)
  if (already != null) {
    controller.abort(already.reason)
    return { signal: controller.signal, dispose: () => {} }
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  const unfollow: Array<() => void> = []
  const dispose = (): void => {
    for (const u of unfollow.splice(0)) u()
    clearTimeout(timer)
  }
  const abort = (reason: unknown): void => {
    dispose()
    controller.abort(reason)
  }
  for (const s of sources) unfollow.push(follow(s, abort))
  if (timeout != null) {
    const { ms, reason } = typeof timeout === 'number' ? { ms: timeout, reason: () => new DOMException('The operation was aborted due to timeout', 'TimeoutError') } : timeout
    timer = setTimeout(() => { abort(reason()) }, ms)
    // like AbortSignal.timeout, it never keeps a process alive
    timer.unref?.()
  }
  return { signal: controller.signal, dispose }
}
