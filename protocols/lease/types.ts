import { MAX_LEASE_TTL_MS } from './constants.js'
import type { LeaseDht } from './dht-io.js'
import type { IsBuilder } from './validator.js'
import type { LeasePayload } from './record.js'
import type { Identity } from '../codec/keys.js'
import type { Logger } from '../../store/logger.js'

export interface LeaseManagerComponents {
  /** `libp2p.services.dht`, with the lease validator and selector installed */
  dht: LeaseDht
  identity: Identity
  logger?: Logger
  /** ms since the epoch (default `Date.now`) */
  now?: () => number
  /** build-role check for what this node reads (default: trust kad-dht's validator, which has it) */
  isBuilder?: IsBuilder
}

export interface LeaseManagerInit {
  ttlMs?: number
  settleMs?: number
  renewEveryMs?: number
  /** deadline of each DHT read or put */
  callTimeoutMs?: number
}

export interface CallOptions { signal?: AbortSignal }

export interface ClaimOptions extends CallOptions {
  /**
   * Asked with the lease as read before claiming (live leases of others are refused before
   * this): a reason not to claim after all, or undefined to go on. Saves a caller that needs
   * to look at the lease first a read of its own.
   */
  refuse?: (current: LeasePayload | undefined) => string | undefined
}

export type ClaimResult =
  | { ok: true, epoch: number, expiresAt: number }
  | { ok: false, reason: 'held' | 'lost-race' | 'refused' | 'error', holder?: string, epoch?: number, expiresAt?: number, error?: Error, detail?: string }

export type RenewResult =
  | { ok: true, epoch: number, expiresAt: number }
  | { ok: false, reason: 'lost' | 'expired' | 'error', holder?: string, epoch?: number, error?: Error }

export interface KeepAliveOptions {
  /** called once when the lease is lost or lapses; renewing stops */
  onLost?: (result: RenewResult & { ok: false }) => void
}

/** every problem with the resolved options, by name */
export function checkInit (init: Required<LeaseManagerInit>): string[] {
  const problems: string[] = []
  for (const [name, value] of Object.entries(init)) {
    if (!Number.isSafeInteger(value) || value < (name === 'settleMs' ? 0 : 1)) problems.push(`${name}: must be an integer ≥ ${name === 'settleMs' ? 0 : 1} ms`)
  }
  if (init.ttlMs > MAX_LEASE_TTL_MS) problems.push(`ttlMs: must be at most ${MAX_LEASE_TTL_MS} ms (the validators' limit)`)
  if (init.renewEveryMs >= init.ttlMs) problems.push('renewEveryMs: must be shorter than ttlMs')
  if (init.settleMs >= init.ttlMs) problems.push('settleMs: must be shorter than ttlMs')
  return problems
}
