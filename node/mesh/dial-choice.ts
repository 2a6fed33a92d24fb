import type { PeerView } from './peer-table.js'

export interface DialChoiceLimits {
  /** dials started at one load check at most */
  maxDials: number
  /** no dial once this many members are connected (the redialer's REDIAL_MAX_CONNECTED) */
  maxConnected: number
}

/**
 * The members heard of in load reports that a node dials at one load check: not itself, not gone,
 * members, not connected yet; at most `maxDials`, and no more than the room left below
 * `maxConnected` connected members, the bound the redialer keeps too. Without that bound every
 * node dialed every member it heard of, and a mesh of 50 was fully connected (49 connections a
 * node): every publish flooded to 49 peers, 49 connections pinged, gossipsub's heartbeat over 49
 * peers. Candidates are taken in random order, so that the nodes of a large mesh do not all dial
 * the same few members (the peer table lists them sorted by id).
 */
export function reportedPeersToDial (
  views: readonly PeerView[],
  connected: ReadonlySet<string>,
  isMember: (peerId: string) => boolean,
  limits: DialChoiceLimits,
  random: () => number = Math.random
): PeerView[] {
  let members = 0
  for (const id of connected) if (isMember(id)) members++
  const room = Math.min(limits.maxDials, limits.maxConnected - members)
  if (room <= 0) return []
  const candidates = views.filter(v => !v.self && v.state !== 'gone' && !connected.has(v.peerId) && isMember(v.peerId))
  // a partial Fisher–Yates shuffle: the first `room` places are a uniform random choice
  for (let i = 0; i < Math.min(room, candidates.length); i++) {
    const j = i + Math.floor(random() * (candidates.length - i))
    const t = candidates[i]
    candidates[i] = candidates[j]
    candidates[j] = t
  }
  return candidates.slice(0, room)
}
