import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { PeerTable } from '../../../node/mesh/peer-table.js'
import { silentAfterMs } from '../../../protocols/load/index.js'
import { MetaStore } from '../../../store/meta/index.js'
import type { LoadReport } from '../../../protocols/load/index.js'

const report = (node: string, at: number): LoadReport => ({
  node, at, seq: 1, load1: 0, cores: 2, memFreeBytes: 2 ** 30, memTotalBytes: 2 ** 31, slots: 1, slotsFree: 1,
  labels: [], state: 'active', running: [], addrs: [], workspaces: [], loadLimit: 2
})

describe('PeerTable: when a silent node counts as unreachable', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanups.splice(0)) await c() })

  /** a table on a real store in which `n` nodes reported at time 0 */
  async function tableOf (n: number, clock: { now: number }): Promise<PeerTable> {
    const dir = await mkdtemp(join(tmpdir(), 'cit-peers-'))
    const meta = new MetaStore({}, { path: join(dir, 'db') })
    await meta.start()
    cleanups.push(async () => { await meta.stop(); await rm(dir, { recursive: true, force: true }) })
    const table = new PeerTable(meta, { now: () => clock.now })
    for (let i = 0; i < n; i++) await table.update(report(`node-${i}`, 0))
    return table
  }

  it('waits two heartbeats of the mesh its size makes: 35 s among 5 nodes, 105 s among 50', async () => {
    for (const n of [5, 50]) {
      const clock = { now: 0 }
      const table = await tableOf(n, clock)
      expect(table.size).toBe(n)
      clock.now = silentAfterMs(n) - 1
      expect(table.view('node-0').find(v => v.peerId === 'node-1')?.state, `N=${n}, just before`).toBe('active')
      clock.now = silentAfterMs(n) + 1
      expect(table.view('node-0').find(v => v.peerId === 'node-1')?.state, `N=${n}, just after`).toBe('unreachable')
    }
    expect(silentAfterMs(5)).toBe(35_000)
    expect(silentAfterMs(50)).toBe(105_000)
  })
})
