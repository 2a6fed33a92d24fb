import { describe, expect, it } from 'vitest'
import { WorkspaceLocks } from '../../../node/executor/workspace-lock.js'
import { resolveLimits, DEFAULT_LIMITS } from '../../../node/executor/limits.js'

describe('workspace locks', () => {
  it('grants one holder per name, in arrival order, and frees the name afterwards', async () => {
    const locks = new WorkspaceLocks()
    const order: string[] = []
    const r1 = await locks.acquire('a')
    const p2 = locks.acquire('a').then(release => { order.push('second'); return release })
    const p3 = locks.acquire('a').then(release => { order.push('third'); return release })
    const other = await locks.acquire('b') // another name is never held up
    other()
    await new Promise(resolve => setImmediate(resolve))
    expect(order).toEqual([])
    r1()
    ;(await p2)()
    ;(await p3)()
    expect(order).toEqual(['second', 'third'])
    await new Promise(resolve => setImmediate(resolve))
    expect(locks.isBusy('a')).toBe(false)
  })

  it('lets a waiter give up through its signal without losing the others\' places', async () => {
    const locks = new WorkspaceLocks()
    const r1 = await locks.acquire('a')
    const controller = new AbortController()
    const p2 = locks.acquire('a', controller.signal)
    const p3 = locks.acquire('a')
    controller.abort(new Error('gone'))
    await expect(p2).rejects.toThrow('gone')
    let third = false
    void p3.then(() => { third = true })
    await new Promise(resolve => setImmediate(resolve))
    expect(third).toBe(false) // still behind the first holder
    r1()
    ;(await p3)()
    expect(third).toBe(true)
  })
})

describe('limits', () => {
  it('fills defaults and refuses bad values by name', () => {
    expect(resolveLimits({ maxProcesses: 10 })).toEqual({ ...DEFAULT_LIMITS, maxProcesses: 10 })
    expect(() => resolveLimits({ maxOutputBytes: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_EXECUTOR_OPTION', message: expect.stringContaining('limits.maxOutputBytes') }))
    expect(() => resolveLimits({ nope: 1 } as any)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_EXECUTOR_OPTION' }))
  })
})
