import { setTimeout as sleep } from 'node:timers/promises'
import { LEASE_CALL_TIMEOUT_MS, LEASE_TTL_MS, RENEW_EVERY_MS, SETTLE_MS } from './constants.js'
import { Deadline, dhtGet, dhtPut } from './dht-io.js'
import { InvalidLeaseOptionError, LeaseAbortedError, LeaseNotStartedError, LeaseTimeoutError } from './errors.js'
import { leaseKey, makeLease, releaseLease, renewLease } from './record.js'
import { bestLease, leaseCandidate } from './selector.js'
import { checkInit } from './types.js'
import { checkLease } from './validator.js'
import { silentLogger } from '../../store/logger.js'
import type { LeaseDht } from './dht-io.js'
import type { LeasePayload } from './record.js'
import type { LeaseCandidate } from './selector.js'
import type { CallOptions, ClaimOptions, ClaimResult, KeepAliveOptions, LeaseManagerComponents, LeaseManagerInit, RenewResult } from './types.js'
import type { IsBuilder } from './validator.js'
import type { Identity } from '../codec/keys.js'
import type { Logger } from '../../store/logger.js'

/** what a read saw: the best valid lease and how many peers answered */
interface Reading { lease?: LeasePayload, responders: number }

/** one keepAlive loop: abort it, then await `done` so no renewal is still on its way */
interface Keeper { controller: AbortController, done: Promise<void> }

/**
 * Claims, renews and releases job leases: signed `/lease/<job>` records in the mesh's DHT.
 * A claim puts the next epoch, waits `settleMs` for rival claims to land, and succeeds only if
 * the record every node selects is its own. See docs/protocols/lease.md for the guarantees.
 */
export class LeaseManager {
  private readonly dht: LeaseDht
  private readonly identity: Identity
  private readonly logger: Logger
  private readonly now: () => number
  private readonly isBuilder: IsBuilder
  private readonly init: Required<LeaseManagerInit>
  private readonly keepers = new Map<string, Keeper>()
  private controller?: AbortController

  constructor (components: LeaseManagerComponents, init: LeaseManagerInit = {}) {
    this.dht = components.dht
    this.identity = components.identity
    this.logger = components.logger ?? silentLogger
    this.now = components.now ?? Date.now
    this.isBuilder = components.isBuilder ?? (() => true)
    const ttlMs = init.ttlMs ?? LEASE_TTL_MS
    this.init = {
      ttlMs,
      settleMs: init.settleMs ?? SETTLE_MS,
      // a shorter TTL without its own renewal period renews at a third of it
      renewEveryMs: init.renewEveryMs ?? Math.max(1, Math.min(RENEW_EVERY_MS, Math.floor(ttlMs / 3))),
      callTimeoutMs: init.callTimeoutMs ?? LEASE_CALL_TIMEOUT_MS
    }
    const problems = checkInit(this.init)
    if (typeof components.dht?.get !== 'function' || typeof components.dht?.put !== 'function') problems.push('dht: must be a kad-dht service')
    if (typeof components.identity?.id !== 'string') problems.push('identity: must be an Identity')
    if (problems.length > 0) throw new InvalidLeaseOptionError(problems)
  }

  isStarted (): boolean { return this.controller != null }

  async start (): Promise<void> {
    if (this.controller != null) return
    this.controller = new AbortController()
  }

  /** cancel in-flight reads and puts and every keepAlive; leases lapse at their expiry */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller == null) return
    this.controller = undefined
    controller.abort(new LeaseAbortedError('the lease manager stopped'))
    const keepers = [...this.keepers.values()]
    this.keepers.clear()
    await Promise.all(keepers.map(async k => { k.controller.abort(); await k.done }))
  }

  /**
   * The job's current lease as every node selects it (highest epoch, see `compareLeases`),
   * live or expired, or undefined when there is none. Asks the peers and this node's store.
   * Throws ERR_TIMEOUT when no peer answered in time, ERR_LEASE_UNREACHABLE, ERR_ABORTED.
   */
  async read (job: string, options: CallOptions = {}): Promise<LeasePayload | undefined> {
    return (await this.reading(job, options)).lease
  }

  /**
   * Claim `job`: `held` when another node's lease is live, `lost-race` when a rival claim of
   * the same epoch was selected instead, `error` when the DHT could not be used. A live lease
   * of this node's own (a claim that failed half-way, or a previous run) is claimed again at
   * the next epoch, which fences whatever still runs under the old one.
   */
  async claim (job: string, options: ClaimOptions = {}): Promise<ClaimResult> {
    const key = leaseKey(job)
    const signal = this.callerSignal(options)
    try {
      const before = await this.reading(job, { signal })
      const prev = before.lease
      if (prev != null && prev.holder !== this.identity.id && prev.expiresAt > this.now()) {
        return { ok: false, reason: 'held', holder: prev.holder, epoch: prev.epoch, expiresAt: prev.expiresAt }
      }
      const refusal = options.refuse?.(prev)
      if (refusal != null) return { ok: false, reason: 'refused', detail: refusal, holder: prev?.holder, epoch: prev?.epoch, expiresAt: prev?.expiresAt }
      const mine = makeLease(this.identity, job, (prev?.epoch ?? 0) + 1, this.init.ttlMs, this.now())
      const putStarted = this.now()
      await this.put(key, mine.bytes, signal)
      // a rival's put takes about as long as this one did: on a loaded machine or a slow network
      // a fixed wait would end before it lands, and both claimers would see only their own record
      const putMs = Math.max(0, this.now() - putStarted)
      await sleep(Math.min(Math.max(this.init.settleMs, 2 * putMs), this.init.ttlMs / 4), undefined, { signal })
      const after = await this.reading(job, { signal })
      const won = after.lease
      if (won == null || won.holder !== this.identity.id || won.epoch !== mine.payload.epoch || won.claimedAt !== mine.payload.claimedAt) {
        this.logger.debug('lease claim lost a race', { job, epoch: mine.payload.epoch, holder: won?.holder })
        return { ok: false, reason: 'lost-race', holder: won?.holder, epoch: won?.epoch }
      }
      if (won.expiresAt <= this.now()) {
        return { ok: false, reason: 'error', error: new LeaseTimeoutError('the claim took longer than its lease\'s TTL') }
      }
      this.logger.debug('lease claimed', { job, epoch: won.epoch })
      return { ok: true, epoch: won.epoch, expiresAt: won.expiresAt }
    } catch (err) {
      return this.failure(err, signal)
    }
  }

  /**
   * Extend this node's lease of `job` at `epoch` by the TTL from now. `lost` (with the
   * selected holder and epoch) when another record supersedes it; `expired` when it lapsed
   * first, since rivals may already be claiming (claim again for a new epoch); `error` when
   * the DHT could not be used (the lease holds until its expiry: retry).
   */
  async renew (job: string, epoch: number, options: CallOptions = {}): Promise<RenewResult> {
    const key = leaseKey(job)
    const signal = this.callerSignal(options)
    try {
      const cur = (await this.reading(job, { signal })).lease
      if (cur == null || cur.holder !== this.identity.id || cur.epoch !== epoch) {
        return { ok: false, reason: 'lost', holder: cur?.holder, epoch: cur?.epoch }
      }
      if (cur.expiresAt <= this.now()) return { ok: false, reason: 'expired', holder: cur.holder, epoch }
      const next = renewLease(this.identity, cur, this.init.ttlMs, this.now())
      await this.put(key, next.bytes, signal)
      return { ok: true, epoch, expiresAt: next.payload.expiresAt }
    } catch (err) {
      return this.failure(err, signal)
    }
  }

  /**
   * Give up `job` at `epoch` so others may claim it at once: publishes the same claim expired
   * now (the holder's newest statement, preferred by every selector). Only when the selected
   * lease is still this node's and live; returns whether a release was published. On failure
   * the lease simply lapses at its expiry.
   */
  async release (job: string, epoch: number, options: CallOptions = {}): Promise<boolean> {
    const key = leaseKey(job)
    const signal = this.callerSignal(options)
    // a renewal still in flight could land after the release and revive the lease
    await this.stopKeeper(job)
    try {
      const cur = (await this.reading(job, { signal })).lease
      if (cur == null || cur.holder !== this.identity.id || cur.epoch !== epoch || cur.expiresAt <= this.now()) return false
      await this.put(key, releaseLease(this.identity, cur, this.now()).bytes, signal)
      return true
    } catch (err) {
      if (signal.aborted) throw new LeaseAbortedError('lease release aborted', { cause: err })
      this.logger.warn('lease release failed; it lapses at its expiry', { job, epoch, err: String(err) })
      return false
    }
  }

  /**
   * The fencing check, right before acting as the holder (publishing a result): true only if
   * the lease every node selects is this node's, at `epoch`, live, and at least one peer
   * answered. Any doubt (no answer, an error) is false.
   */
  async holds (job: string, epoch: number, options: CallOptions = {}): Promise<boolean> {
    const signal = this.callerSignal(options)
    try {
      const { lease } = await this.reading(job, { signal })
      return lease != null && lease.holder === this.identity.id && lease.epoch === epoch && lease.expiresAt > this.now()
    } catch (err) {
      if (signal.aborted) throw new LeaseAbortedError('lease check aborted', { cause: err })
      return false
    }
  }

  /**
   * Renew `job` at `epoch` every `renewEveryMs` until `stop()` of the result, `release()`,
   * the manager's stop, or the lease is lost (`onLost` is called once). A failed renewal is
   * retried at the next tick while the lease has not expired.
   */
  keepAlive (job: string, epoch: number, expiresAt: number, options: KeepAliveOptions = {}): () => void {
    leaseKey(job)
    const stop = this.controller
    if (stop == null) throw new LeaseNotStartedError()
    this.keepers.get(job)?.controller.abort()
    const controller = new AbortController()
    const signal = AbortSignal.any([controller.signal, stop.signal])
    const keeper: Keeper = { controller, done: Promise.resolve() }
    keeper.done = this.keepLoop(job, epoch, expiresAt, signal, options).finally(() => {
      if (this.keepers.get(job) === keeper) this.keepers.delete(job)
    })
    this.keepers.set(job, keeper)
    return () => { controller.abort() }
  }

  private async stopKeeper (job: string): Promise<void> {
    const keeper = this.keepers.get(job)
    if (keeper == null) return
    keeper.controller.abort()
    await keeper.done
  }

  private async keepLoop (job: string, epoch: number, expiresAt: number, signal: AbortSignal, options: KeepAliveOptions): Promise<void> {
    let until = expiresAt
    for (;;) {
      try {
        await sleep(this.init.renewEveryMs, undefined, { signal })
      } catch {
        return
      }
      const result = await this.renew(job, epoch, { signal }).catch((err: Error): RenewResult => ({ ok: false, reason: 'error', error: err }))
      if (signal.aborted) return
      if (result.ok) {
        until = result.expiresAt
        continue
      }
      if (result.reason === 'error' && this.now() < until) {
        this.logger.warn('lease renewal failed; retrying', { job, epoch, err: String(result.error) })
        continue
      }
      const lost = result.reason === 'error' ? { ok: false as const, reason: 'expired' as const, holder: this.identity.id, epoch } : result
      this.logger.info('lease lost', { job, epoch, reason: lost.reason, holder: lost.holder })
      try {
        options.onLost?.(lost)
      } catch (err) {
        this.logger.error('lease onLost callback threw', { job, err: String(err) })
      }
      return
    }
  }

  /** read, check every record as a validator would, and select the best */
  private async reading (job: string, options: CallOptions): Promise<Reading> {
    const key = leaseKey(job)
    const deadline = new Deadline(this.init.callTimeoutMs, [this.running(), options.signal])
    try {
      const { records, responders } = await dhtGet(this.dht, key, deadline)
      const valid: LeaseCandidate[] = []
      for (const bytes of records) {
        // kad-dht leaves some records unchecked (the echo of a correction it sent), and this
        // manager's clock and trust callback apply whatever kad-dht's validator decided
        try {
          checkLease(key, bytes, this.isBuilder, { now: this.now })
        } catch {
          continue
        }
        const c = leaseCandidate(bytes, job)
        if (c != null) valid.push(c)
      }
      return { lease: bestLease(valid)?.lease, responders }
    } finally {
      deadline.clear()
    }
  }

  private async put (key: Uint8Array, value: Uint8Array, signal: AbortSignal): Promise<void> {
    const deadline = new Deadline(this.init.callTimeoutMs, [this.running(), signal])
    try {
      await dhtPut(this.dht, key, value, deadline)
    } finally {
      deadline.clear()
    }
  }

  private running (): AbortSignal {
    const controller = this.controller
    if (controller == null) throw new LeaseNotStartedError()
    return controller.signal
  }

  /** the caller's signal joined with the manager's, checked before any work */
  private callerSignal (options: CallOptions): AbortSignal {
    const stop = this.running()
    return options.signal == null ? stop : AbortSignal.any([stop, options.signal])
  }

  /** a caller's abort and a stopped manager throw; anything else is an `error` result */
  private failure (err: unknown, signal: AbortSignal): { ok: false, reason: 'error', error: Error } {
    if (err instanceof LeaseNotStartedError) throw err
    // `signal` joins the caller's and the manager's: a deadline alone is an `error` result
    if (signal.aborted) throw err instanceof LeaseAbortedError ? err : new LeaseAbortedError('lease operation aborted', { cause: err })
    const error = err instanceof Error ? err : new Error(String(err))
    this.logger.debug('lease operation failed', { err: String(error) })
    return { ok: false, reason: 'error', error }
  }
}
