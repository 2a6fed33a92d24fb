/**
 * Which members heard of in load reports a node dials (MeshService's load check): bounded like the
 * redialer, so a large mesh is not fully connected, and spread over the members.
 */
import { describe, expect, it } from 'vitest'
import { reportedPeersToDial } from '../../../node/mesh/dial-choice.js'
import type { PeerView } from '../../../node/mesh/peer-table.js'

function view (peerId: string, extra: Partial<PeerView> = {}): PeerView {
  return {
    peerId,
    addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${peerId}`],
    state: 'active',
    labels: [],
    load: { load1: 0, cores: 2, memFreeBytes: 1, slotsFree: 1 },
    slots: 1,
    running: [],
    reportAgeMs: 0,
    self: false,
    ...extra
  }
}

const ids = (n: number, prefix = 'p'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`)
const member = (): boolean => true

describe('reportedPeersToDial', () => {
  it('dials nothing once maxConnected members are connected, and only the room left below it', () => {
    const views = ids(50).map(id => view(id))
    const limits = { maxDials: 4, maxConnected: 24 }
    // 24 members connected: the bound is reached, however many more are known
    expect(reportedPeersToDial(views, new Set(ids(24)), member, limits)).toEqual([])
    // 22 connected: two places left, though four dials a check are allowed
    const two = reportedPeersToDial(views, new Set(ids(22)), member, limits)
    expect(two).toHaveLength(2)
    for (const v of two) expect(Number(v.peerId.slice(1))).toBeGreaterThanOrEqual(22)
    // few connected: maxDials a check
    expect(reportedPeersToDial(views, new Set(ids(3)), member, limits)).toHaveLength(4)
  })

  it('counts only members among the connections, and dials only members that are not gone nor itself', () => {
    const views = [view('self', { self: true }), view('gone', { state: 'gone' }), view('stranger'), view('m1'), view('m2')]
    const isMember = (id: string): boolean => id !== 'stranger' && !id.startsWith('x')
    // 30 connections of non-members (an invite key joining, say) leave the room for members
    const chosen = reportedPeersToDial(views, new Set(ids(30, 'x')), isMember, { maxDials: 4, maxConnected: 24 })
    expect(chosen.map(v => v.peerId).sort()).toEqual(['m1', 'm2'])
  })

  it('spreads the dials over the members heard of rather than the lowest ids', () => {
    const views = ids(50).map(id => view(id))
    const picked = new Set<string>()
    for (let i = 0; i < 50; i++) {
      for (const v of reportedPeersToDial(views, new Set(), member, { maxDials: 4, maxConnected: 24 })) picked.add(v.peerId)
    }
    // 200 random picks out of 50 miss a given member with probability (46/50)^50 ≈ 0.0154: nearly all are picked
    expect(picked.size).toBeGreaterThan(40)
  })
})
