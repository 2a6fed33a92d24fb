import { LeaseAcceptor } from './acceptor.js'
import { LeaseClaimant } from './claimant.js'
import { LeaseRpc } from './rpc.js'
import type { LeaseAcceptorComponents, LeaseAcceptorInit } from './acceptor.js'
import type { LeaseClaimantInit } from './claimant.js'
import type { LeaseTransport } from './types.js'

export interface LeaseServiceComponents extends LeaseAcceptorComponents {
  transport: LeaseTransport
}

export type LeaseServiceInit = LeaseAcceptorInit & LeaseClaimantInit

/**
 * A node's whole part in the lease protocol over one transport: it answers as an acceptor and
 * claims, renews, releases and finishes as a claimant. Transport and clock are injected, so the
 * same code runs over libp2p links in a daemon and over a MemoryNetwork in virtual time.
 */
export class LeaseService {
  readonly rpc: LeaseRpc
  readonly acceptor: LeaseAcceptor
  readonly claimant: LeaseClaimant
  private started = false

  constructor (components: LeaseServiceComponents, init: LeaseServiceInit = {}) {
    this.rpc = new LeaseRpc(components)
    this.acceptor = new LeaseAcceptor(components, init)
    this.claimant = new LeaseClaimant({ rpc: this.rpc, clock: components.clock, logger: components.logger }, init)
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.rpc.start(async (from, req) => await this.acceptor.handle(from, req))
    this.claimant.start()
  }

  /** stop claiming and answering; leases held lapse at their expiry unless released first */
  stop (): void {
    if (!this.started) return
    this.started = false
    this.claimant.stop()
    this.rpc.stop()
  }

  stats (): { acceptor: ReturnType<LeaseAcceptor['stats']>, dropped: Record<string, number>, holding: number } {
    return { acceptor: this.acceptor.stats(), dropped: this.rpc.dropped(), holding: this.claimant.holding().length }
  }
}
