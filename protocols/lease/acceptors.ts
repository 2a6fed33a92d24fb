import { createHash } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { ACCEPTORS, ACCEPTORS_LARGE, LARGE_MESH_BUILDERS } from './constants.js'

const kadIds = new Map<string, Buffer>()
const KAD_CACHE_MAX = 4096

/** a peer's position in the kad keyspace: sha256 of its peer id's multihash (as kad-dht computes it) */
export function kadIdOfPeer (peerId: string): Buffer {
  let id = kadIds.get(peerId)
  if (id == null) {
    id = createHash('sha256').update(peerIdFromString(peerId).toMultihash().bytes).digest()
    if (kadIds.size >= KAD_CACHE_MAX) kadIds.clear()
    kadIds.set(peerId, id)
  }
  return id
}

/** a job's position in the kad keyspace: sha256 of the job id's 32 bytes */
export function kadIdOfJob (job: string): Buffer {
  return createHash('sha256').update(Buffer.from(job, 'hex')).digest()
}

function compareXor (target: Buffer, a: Buffer, b: Buffer): number {
  for (let i = 0; i < target.length; i++) {
    const d = (a[i] ^ target[i]) - (b[i] ^ target[i])
    if (d !== 0) return d
  }
  return 0
}

/** how many acceptors a job has among `builders` members that may build: all below 3, 3, and 5 from 7 on */
export function acceptorCount (builders: number): number {
  if (builders < ACCEPTORS) return builders
  return builders >= LARGE_MESH_BUILDERS ? ACCEPTORS_LARGE : ACCEPTORS
}

/** the smallest number of acceptors whose word is the lease: a majority */
export function majority (acceptors: number): number {
  return Math.floor(acceptors / 2) + 1
}

/**
 * A job's acceptors: the `acceptorCount` members of `builders` closest to the job id by XOR
 * distance in the kad keyspace, nearest first. Every node computes the same set from the same
 * membership, with no lookup. Peer ids that do not parse are left out.
 */
export function closestAcceptors (job: string, builders: Iterable<string>): string[] {
  const target = kadIdOfJob(job)
  const ids: Array<{ peer: string, kad: Buffer }> = []
  for (const peer of new Set(builders)) {
    try {
      ids.push({ peer, kad: kadIdOfPeer(peer) })
    } catch {}
  }
  ids.sort((a, b) => compareXor(target, a.kad, b.kad))
  return ids.slice(0, acceptorCount(ids.length)).map(x => x.peer)
}
