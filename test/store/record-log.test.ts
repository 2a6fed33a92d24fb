import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { MetaStore, RecordLog } from '../../store/meta/index.js'
import { tempHome } from '../helpers/cli.js'

describe('RecordLog', () => {
  const temps: Array<{ cleanup: () => Promise<void> }> = []
  afterEach(async () => { for (const t of temps.splice(0)) await t.cleanup() })

  async function opened (path: string): Promise<{ meta: MetaStore, log: RecordLog }> {
    const meta = new MetaStore({}, { path })
    await meta.start()
    const log = new RecordLog(meta)
    await log.start()
    return { meta, log }
  }

  it('keeps its id and numbering across a clean stop, and takes a new id after an unclean one', async () => {
    const t = await tempHome('cit-log-')
    temps.push(t)
    const path = join(t.dir, 'db')
    const first = await opened(path)
    const id = first.log.logId
    expect(id).toMatch(/^[0-9a-f]{32}$/)
    await first.meta.batch(first.log.appendOps('a'.repeat(64), new Uint8Array([1])))
    await first.log.stop()
    await first.log.stop()
    await first.meta.stop()

    const second = await opened(path)
    expect(second.log.logId).toBe(id)
    expect(second.log.renewed).toBe(false)
    expect(second.log.lastSeq).toBe(1)
    // the process dies here: the log is never stopped (appends after a pull may be lost to a power cut)
    await second.meta.stop()

    const third = await opened(path)
    expect(third.log.renewed).toBe(true)
    expect(third.log.logId).not.toBe(id)
    // the records stay; peers that pulled under the old id start again from the beginning
    expect(third.log.lastSeq).toBe(1)
    expect((await third.log.readAfter(0, 10, 1024)).items.map(i => i.seq)).toEqual([1])
    await third.log.stop()
    await third.meta.stop()
  })
})
