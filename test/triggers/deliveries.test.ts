/**
 * The webhook delivery ledger on a real LevelDB in a temp dir: a delivery is known by its id and
 * by its body, and two copies checked at once cannot both pass.
 */
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MetaStore } from '../../store/meta/index.js'
import { DeliveryLedger } from '../../node/triggers/deliveries.js'
import { tempHome } from '../helpers/cli.js'

describe('webhook delivery ledger', () => {
  let dir: { dir: string, cleanup: () => Promise<void> }
  let meta: MetaStore
  beforeEach(async () => {
    dir = await tempHome('cit-deliveries-')
    meta = new MetaStore({}, { path: join(dir.dir, 'db') })
    await meta.start()
  })
  afterEach(async () => {
    await meta.stop()
    await dir.cleanup()
  })

  const body = (commit: string): Buffer => Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: commit }))

  it('copies of one delivery checked at the same time: exactly one is taken', async () => {
    const ledger = new DeliveryLedger({ meta })
    // started together: each is past its synchronous part before any store read answers
    const same = await Promise.all([1, 2, 3, 4].map(async () => await ledger.take('libfoo', 'd-1', body('a'))))
    expect(same.filter(Boolean)).toHaveLength(1)
    // the same body under other ids, or none, at once
    const bodies = await Promise.all([undefined, 'x', 'y'].map(async id => await ledger.take('libfoo', id, body('b'))))
    expect(bodies.filter(Boolean)).toHaveLength(1)
  })

  it('a taken body is a replay under any id or none, a taken id with any body, and both survive a restart', async () => {
    const ledger = new DeliveryLedger({ meta })
    expect(await ledger.take('libfoo', 'd-1', body('a'))).toBe(true)
    expect(await ledger.take('libfoo', undefined, body('a'))).toBe(false)
    expect(await ledger.take('libfoo', 'forged', body('a'))).toBe(false)
    expect(await ledger.take('libfoo', 'd-1', body('c'))).toBe(false)
    // another repository's deliveries are its own
    expect(await ledger.take('libbar', 'd-1', body('a'))).toBe(true)
    await meta.stop()
    meta = new MetaStore({}, { path: join(dir.dir, 'db') })
    await meta.start()
    const again = new DeliveryLedger({ meta })
    expect(await again.take('libfoo', 'other', body('a'))).toBe(false)
    expect(await again.take('libfoo', 'd-1', body('d'))).toBe(false)
    expect(await again.take('libfoo', 'd-2', body('d'))).toBe(true)
  })
})
