import { encodeCbor } from '../../protocols/codec/index.js'
import { checkGrants, checkVotes, outcomeOf } from '../../protocols/lease/index.js'
import type { JobEvent } from '../../protocols/job/records.js'
import type { JobRow } from './types.js'

/** whether an event may change a row: in a mesh, run events need the acceptors' signatures */
export type Certify = (row: JobRow, ev: JobEvent) => boolean

/** what a finished or failed event decides, as acceptors vote on it: its type, state, reason and result */
export function outcomeContent (ev: Pick<JobEvent, 'type' | 'state' | 'reason' | 'result'>): Uint8Array {
  return encodeCbor({ type: ev.type, state: ev.state, reason: ev.reason, result: ev.result })
}

/** the sha256 acceptors vote for (see `outcomeContent`) */
export function eventOutcome (ev: Pick<JobEvent, 'type' | 'state' | 'reason' | 'result'>): string {
  return outcomeOf({ type: ev.type, state: ev.state, reason: ev.reason, result: ev.result })
}

/**
 * The fence of a mesh `mesh`: a `started` event counts only with grants of a majority of the
 * job's acceptors to its node at its epoch (and so does a `requeued` or `lease-lost` that comes
 * before the start of the run it gives up); a `finished` or `failed` one only with votes of a
 * majority for its outcome (the one result the acceptors decided). A job without acceptors (a
 * node outside any mesh) needs none; a cache hit is its submitting node's own.
 */
export function meshFence (mesh: string): Certify {
  // an event is checked where it arrives (ingest) and again where it is applied: verify its
  // signatures once (the payload object is the same all the way)
  const checked = new WeakMap<JobEvent, boolean>()
  const check = certifyIn(mesh)
  return (row, ev) => {
    const known = checked.get(ev)
    if (known !== undefined) return known
    const ok = check(row, ev)
    checked.set(ev, ok)
    return ok
  }
}

function certifyIn (mesh: string): Certify {
  return (row, ev) => {
    if (row.acceptors == null) return true
    if (ev.type === 'finished' && ev.result?.cacheHit === true) return ev.node === row.origin && (ev.epoch ?? 0) === 0
    const s = { mesh, job: row.id, acceptors: row.acceptors }
    switch (ev.type) {
      case 'claimed': case 'started': case 'requeued': case 'lease-lost': {
        if (ev.cert == null || ev.epoch == null) return false
        const r = checkGrants(ev.cert, { ...s, epoch: ev.epoch })
        return r.ok && r.holder === ev.node
      }
      case 'finished': case 'failed':
        if (ev.cert == null) return false
        return checkVotes(ev.cert, { ...s, holder: ev.ran ?? ev.node, outcome: eventOutcome(ev) }).ok
      default:
        return true
    }
  }
}
