import { LeaseUnreachableError } from './errors.js'
import type { LeaseTransport } from './types.js'

/**
 * Decides what happens to one message: call `deliver` (now, later, twice) or not at all. The
 * default delivers each message once, on the next turn of the event loop.
 */
export type DeliveryPolicy = (from: string, to: string, bytes: Uint8Array, deliver: () => void) => void

const nextTurn: DeliveryPolicy = (_from, _to, _bytes, deliver) => { setImmediate(deliver) }

/**
 * Lease transports between nodes of one process: the real protocol code over an in-memory
 * network whose delays, losses, duplicates and partitions a test decides (`policy`).
 */
export class MemoryNetwork {
  private readonly handlers = new Map<string, (from: string, bytes: Uint8Array) => void>()
  private readonly down = new Set<string>()

  constructor (private readonly policy: DeliveryPolicy = nextTurn) {}

  /** the transport of node `id` */
  transport (id: string): LeaseTransport {
    return {
      send: async (peer, bytes) => {
        if (!this.handlers.has(peer) || this.down.has(peer) || this.down.has(id)) throw new LeaseUnreachableError(`${peer} is not reachable`)
        this.policy(id, peer, bytes, () => {
          if (this.down.has(peer) || this.down.has(id)) return
          this.handlers.get(peer)?.(id, bytes)
        })
      },
      onMessage: handler => { this.handlers.set(id, handler) }
    }
  }

  /** a crashed or stopped node: nothing reaches it or leaves it */
  setDown (id: string, down: boolean): void {
    if (down) this.down.add(id)
    else this.down.delete(id)
  }
}
