import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MetaStore } from '../../store/meta/index.js'
import { tempHome } from '../helpers/cli.js'

describe('MetaStore (LevelDB)', () => {
  let dir: { dir: string, cleanup: () => Promise<void> }
  let store: MetaStore

  beforeEach(async () => {
    dir = await tempHome('cit-meta-')
    store = new MetaStore({}, { path: `${dir.dir}/db` })
    await store.start()
  })

  afterEach(async () => {
    await store.stop()
    await dir.cleanup()
  })

  it('stores CBOR values by table and key, and start/stop are idempotent', async () => {
    await store.start()
    const t = store.table<{ n: number, b: Uint8Array }>('things')
    await store.batch([{ type: 'put', table: 'things', key: 'a', value: { n: 1, b: new Uint8Array([9]) } }])
    expect(await t.get('a')).toEqual({ n: 1, b: new Uint8Array([9]) })
    expect(await t.get('missing')).toBeUndefined()
    expect(await store.table('other').get('a')).toBeUndefined()
    await store.stop()
    await store.stop()
    await store.start()
    expect(await store.table('things').get('a')).toEqual({ n: 1, b: new Uint8Array([9]) })
  })

  it('applies a batch across tables all together', async () => {
    await store.batch([
      { type: 'put', table: 'jobs', key: 'j1', value: { state: 'queued' } },
      { type: 'put', table: 'events', key: 'j1/1', value: { type: 'submitted' } }
    ], { sync: true })
    expect(await store.table('jobs').get('j1')).toEqual({ state: 'queued' })
    expect(await store.table('events').get('j1/1')).toEqual({ type: 'submitted' })
    await store.batch([{ type: 'del', table: 'jobs', key: 'j1' }])
    expect(await store.table('jobs').has('j1')).toBe(false)
  })

  it('iterates by prefix and range in key order, both ways, with a limit', async () => {
    const ops = ['a/1', 'a/2', 'a/3', 'b/1', 'ab'].map(key => ({ type: 'put' as const, table: 't', key, value: key }))
    await store.batch(ops)
    const t = store.table<string>('t')
    const keys = async (o: Parameters<typeof t.keys>[0]): Promise<string[]> => { const out: string[] = []; for await (const k of t.keys(o)) out.push(k); return out }
    expect(await keys({ prefix: 'a/' })).toEqual(['a/1', 'a/2', 'a/3'])
    expect(await keys({ prefix: 'a/', reverse: true, limit: 2 })).toEqual(['a/3', 'a/2'])
    expect(await keys({ gt: 'a/3' })).toEqual(['ab', 'b/1'])
  })

  it('a second store on the same directory is refused while the first holds it', async () => {
    const other = new MetaStore({}, { path: `${dir.dir}/db` })
    await expect(other.start()).rejects.toMatchObject({ code: 'ERR_DB_OPEN' })
  })
})
