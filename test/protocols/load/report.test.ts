import { describe, expect, it } from 'vitest'
import { LOAD1_CHANGE, LOAD1_CHANGE_RATIO, LOAD_BUSY_HEARTBEAT_MS, LOAD_CHECK_INTERVAL_MS, LOAD_HEARTBEAT_MS, LOAD_SILENT_AFTER_MS, MEM_FREE_CHANGE_BYTES, forwardReport, idleHeartbeatMs, reachesEveryMember, reportChanged, silentAfterMs, validateLoadReport } from '../../../protocols/load/index.js'
import { UNREACHABLE_AFTER_MS } from '../../../node/mesh/peer-table.js'
import { EXECUTOR_SILENT_MS, OFFER_MAX_AGE_MS } from '../../../node/scheduler/mesh-claimer.js'
import type { LoadReport } from '../../../protocols/load/index.js'

const sent: Omit<LoadReport, 'at' | 'seq'> = {
  node: '12D3KooWnode', load1: 1.2, cores: 2, memFreeBytes: 4 * 2 ** 30, memTotalBytes: 8 * 2 ** 30, slots: 2, slotsFree: 2,
  labels: ['linux'], state: 'active', running: [], addrs: ['/ip4/127.0.0.1/tcp/4801'], workspaces: [], loadLimit: 1
}

describe('load report changes', () => {
  it('the first report is always a change', () => {
    expect(reportChanged(undefined, sent)).toBe(true)
  })

  it('jitter of the load average and free memory is no change', () => {
    expect(reportChanged(sent, { ...sent, load1: sent.load1 + LOAD1_CHANGE * 0.9 })).toBe(false)
    expect(reportChanged(sent, { ...sent, load1: sent.load1 - LOAD1_CHANGE * 0.9 })).toBe(false)
    expect(reportChanged(sent, { ...sent, memFreeBytes: sent.memFreeBytes - MEM_FREE_CHANGE_BYTES + 1 })).toBe(false)
    expect(reportChanged(sent, { ...sent })).toBe(false)
  })

  it('on a busy machine a move of the load is a change only when it is a real share of it', () => {
    const busy = { ...sent, load1: 12 }
    // 2.5 of 12 is more than LOAD1_CHANGE but less than a quarter: the jitter of a busy machine
    expect(reportChanged(busy, { ...busy, load1: 12 + 2.5 })).toBe(false)
    expect(reportChanged(busy, { ...busy, load1: 12 - 2.5 })).toBe(false)
    expect(reportChanged(busy, { ...busy, load1: 12 * (1 + LOAD1_CHANGE_RATIO) })).toBe(true)
    expect(reportChanged(busy, { ...busy, load1: 12 * (1 - LOAD1_CHANGE_RATIO) })).toBe(true)
    // other fields still count at once
    expect(reportChanged(busy, { ...busy, load1: 12.1, slotsFree: 1 })).toBe(true)
  })

  it('a real move of the load or memory is a change', () => {
    expect(reportChanged(sent, { ...sent, load1: sent.load1 + LOAD1_CHANGE })).toBe(true)
    expect(reportChanged(sent, { ...sent, memFreeBytes: sent.memFreeBytes - MEM_FREE_CHANGE_BYTES })).toBe(true)
  })

  it('any other field that differs is a change', () => {
    const changes: Array<Partial<LoadReport>> = [
      { slotsFree: 1 }, { running: ['job-1'] }, { state: 'draining' }, { labels: ['linux', 'gpu'] },
      { addrs: [] }, { workspaces: ['app'] }, { slots: 4 }, { cores: 4 }, { loadLimit: 2 }, { memTotalBytes: 16 * 2 ** 30 }
    ]
    for (const change of changes) expect(reportChanged(sent, { ...sent, ...change }), JSON.stringify(change)).toBe(true)
  })

  it('freshness limits outlast the heartbeat, so an idle node is neither unreachable nor ignored', () => {
    expect(LOAD_HEARTBEAT_MS).toBeGreaterThan(LOAD_CHECK_INTERVAL_MS)
    for (const limit of [LOAD_SILENT_AFTER_MS, UNREACHABLE_AFTER_MS, OFFER_MAX_AGE_MS]) {
      // two heartbeats may be missed, and the check that sends one runs up to an interval late
      expect(limit).toBeGreaterThanOrEqual(2 * LOAD_HEARTBEAT_MS + LOAD_CHECK_INTERVAL_MS)
    }
    // an executor reports at every check while it runs jobs; its silence is judged on that beat
    expect(LOAD_BUSY_HEARTBEAT_MS).toBeLessThanOrEqual(LOAD_CHECK_INTERVAL_MS)
    expect(EXECUTOR_SILENT_MS).toBeGreaterThanOrEqual(3 * LOAD_BUSY_HEARTBEAT_MS + LOAD_CHECK_INTERVAL_MS)
  })

  it('an idle heartbeat grows with the mesh so that the whole mesh sends about one idle report a second', () => {
    expect(idleHeartbeatMs(5)).toBe(LOAD_HEARTBEAT_MS)
    for (const n of [5, 15, 20, 50, 300, 1000]) {
      const meshWidePerS = n / (idleHeartbeatMs(n) / 1000)
      expect(meshWidePerS, `N=${n}`).toBeLessThanOrEqual(1)
    }
    expect(idleHeartbeatMs(50)).toBe(50_000)
  })

  it('a receiver that knows half as many nodes as the sender still allows two of its heartbeats, less one, before calling it silent', () => {
    for (const sender of [2, 16, 30, 50, 400]) {
      const receiver = Math.ceil(sender / 2)
      expect(silentAfterMs(receiver), `sender ${sender}`).toBeGreaterThanOrEqual(idleHeartbeatMs(sender) + LOAD_CHECK_INTERVAL_MS)
      expect(silentAfterMs(sender)).toBe(2 * idleHeartbeatMs(sender) + LOAD_CHECK_INTERVAL_MS)
    }
  })
})

describe('load reports sent straight to every member', () => {
  const members = ['self', 'm1', 'm2', 'm3']
  const none = (): boolean => false

  it('a report reaches every member when every other member that has not left subscribes over a connection', () => {
    expect(reachesEveryMember('self', members, new Set(['m1', 'm2', 'm3']), none)).toBe(true)
    // one member not connected (or not subscribed yet): others must keep forwarding
    expect(reachesEveryMember('self', members, new Set(['m1', 'm2']), none)).toBe(false)
    // unless it left the mesh
    expect(reachesEveryMember('self', members, new Set(['m1', 'm2']), id => id === 'm3')).toBe(true)
    // a non-member subscriber (an invite key) does not stand in for a member
    expect(reachesEveryMember('self', members, new Set(['m1', 'm2', 'invite']), none)).toBe(false)
  })

  it('is not forwarded only when it says so and came from its author', () => {
    expect(forwardReport({ node: 'a', direct: true }, 'a')).toBe(false)
    // a copy relayed by another node, or one its author did not send to everybody, goes on as usual
    expect(forwardReport({ node: 'a', direct: true }, 'b')).toBe(true)
    expect(forwardReport({ node: 'a' }, 'a')).toBe(true)
    expect(forwardReport({ node: 'a', direct: false }, 'a')).toBe(true)
  })

  it('direct is an optional boolean of the report', () => {
    const report = { ...sent, at: 1, seq: 1 }
    expect(validateLoadReport(report).value).toBeDefined()
    expect(validateLoadReport({ ...report, direct: true }).value).toMatchObject({ direct: true })
    expect(validateLoadReport({ ...report, direct: 'yes' }).problem).toBe('direct is not a boolean')
  })
})
