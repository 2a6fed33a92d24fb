import { getEventListeners } from 'node:events'
import { describe, expect, it } from 'vitest'
import { linkedSignal } from '../../../protocols/codec/index.js'

/** what a signal holds for the signals made from it: its abort listeners, and the set AbortSignal.any adds to */
function held (source: AbortSignal): { listeners: number, dependants: number } {
  const sym = Object.getOwnPropertySymbols(source).find(s => s.description === 'kDependantSignals')
  const set = sym == null ? undefined : (source as unknown as Record<symbol, Set<unknown> | undefined>)[sym]
  return { listeners: getEventListeners(source, 'abort').length, dependants: set?.size ?? 0 }
}

describe('linkedSignal', () => {
  it('aborts with the first source\'s reason, or with a TimeoutError after its time', async () => {
    const a = new AbortController()
    const b = new AbortController()
    const linked = linkedSignal([a.signal, undefined, b.signal])
    const why = new Error('b went')
    b.abort(why)
    expect(linked.signal.aborted).toBe(true)
    expect(linked.signal.reason).toBe(why)

    const timed = linkedSignal([a.signal], 10)
    await new Promise(resolve => timed.signal.addEventListener('abort', resolve, { once: true }))
    expect((timed.signal.reason as Error).name).toBe('TimeoutError')

    a.abort(new Error('a went'))
    const late = linkedSignal([a.signal], 10)
    expect(late.signal.aborted).toBe(true)
    expect((late.signal.reason as Error).message).toBe('a went')

    // a deadline of the caller's own kind
    class Late extends Error {}
    const own = linkedSignal([undefined], { ms: 10, reason: () => new Late('too long') })
    await new Promise(resolve => own.signal.addEventListener('abort', resolve, { once: true }))
    expect(own.signal.reason).toBeInstanceOf(Late)
    expect((own.signal.reason as Error).message).toBe('too long')
  })

  it('leaves nothing on a long-lived source once disposed, however many signals were made from it', () => {
    const lifetime = new AbortController()
    const inFlight = Array.from({ length: 50 }, () => linkedSignal([lifetime.signal], 60_000))
    // one listener on the source for all the calls in flight on it (Node.js warns past 10)
    expect(held(lifetime.signal).listeners).toBe(1)
    for (const l of inFlight) l.dispose()
    for (let i = 0; i < 1000; i++) {
      const { signal, dispose } = linkedSignal([lifetime.signal, new AbortController().signal], 60_000)
      expect(signal.aborted).toBe(false)
      dispose()
    }
    // AbortSignal.any would have left 1050 entries here on Node.js 20, never removed
    expect(held(lifetime.signal)).toEqual({ listeners: 1, dependants: 0 })
    expect(inFlight.some(l => l.signal.aborted)).toBe(false)
    // and a disposed signal no longer follows its source
    const { signal, dispose } = linkedSignal([lifetime.signal])
    dispose()
    lifetime.abort()
    expect(signal.aborted).toBe(false)
  })
})
