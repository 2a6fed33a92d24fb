/**
 * One request to an outside service (a forge, a chat server, a web hook) with retries: backoff on
 * 5xx, 429 and network errors, none on another 4xx. Never throws; says how it ended.
 */

/** tries of one delivery (the first and the retries) */
export const DELIVERY_TRIES = 6
/** the first retry's delay; each next one doubles, up to DELIVERY_MAX_DELAY_MS */
export const DELIVERY_RETRY_BASE_MS = 1000
export const DELIVERY_MAX_DELAY_MS = 60_000
/** one request's deadline */
export const DELIVERY_TIMEOUT_MS = 15_000

export interface DeliveryOutcome {
  /** `posted` (2xx), `refused` (another 4xx: not retried), `gave up` (tries spent), `stopped` (the daemon stops) */
  result: 'posted' | 'refused' | 'gave up' | 'stopped'
  /** the last HTTP status, 0 for a network error */
  status: number
  /** each failed try's status (0: network error), for counters */
  failures: number[]
}

export async function deliver (url: string, init: { method: string, headers: Record<string, string>, body: string }, options: { signal: AbortSignal, retryBaseMs?: number, tries?: number }): Promise<DeliveryOutcome> {
  const failures: number[] = []
  let status = 0
  for (let attempt = 0; attempt < (options.tries ?? DELIVERY_TRIES); attempt++) {
    if (attempt > 0) await sleep(Math.min(DELIVERY_MAX_DELAY_MS, (options.retryBaseMs ?? DELIVERY_RETRY_BASE_MS) * 2 ** (attempt - 1)), options.signal)
    if (options.signal.aborted) return { result: 'stopped', status, failures }
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.any([options.signal, AbortSignal.timeout(DELIVERY_TIMEOUT_MS)]) })
      status = res.status
      await res.arrayBuffer().catch(() => undefined)
    } catch {
      if (options.signal.aborted) return { result: 'stopped', status, failures }
      status = 0
    }
    if (status >= 200 && status < 300) return { result: 'posted', status, failures }
    failures.push(status)
    if (status !== 0 && status < 500 && status !== 429) return { result: 'refused', status, failures }
  }
  return { result: 'gave up', status, failures }
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>(resolve => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
  })
}
