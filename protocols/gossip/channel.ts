import { createHash } from 'node:crypto'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import {
  DROP_DUPLICATE, DROP_OTHER, DROP_STOPPED, DROP_TOO_LARGE, DROP_VALIDATOR_ERROR,
  GOSSIP_MAX_DROP_REASONS, GOSSIP_MAX_MESSAGE_BYTES, GOSSIP_RECENT_IDS
} from './constants.js'
import { ChannelNotStartedError, PublishFailedError, TopicInUseError } from './errors.js'
import { MessageTooLargeError } from '../codec/errors.js'
import { RateLimitedLog } from '../net/log-limit.js'
import { silentLogger } from '../../store/logger.js'
import type { Logger } from '../../store/logger.js'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

/** the message id gossipsub uses in the mesh (see protocols/net): sha256 of the data, hex */
function messageId (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/**
 * A validator's verdict. `ignore: true` drops without blaming the sender (e.g. "cannot judge yet").
 * `forward: false` delivers an accepted value but does not pass the message on to the topic mesh
 * (nor offer it by IHAVE): for a message every subscriber already got straight from its publisher.
 */
export type GossipVerdict<T> = { ok: true, value: T, forward?: boolean } | { ok: false, reason: string, ignore?: boolean }

/**
 * Decide on a message's bytes. Messages carry no gossipsub signature (StrictNoSign): who made one
 * is the signer of the envelope in `bytes`, which the validator checks. `from` is the peer that
 * published it when gossipsub says so, else the neighbour that relayed it (`meta.via`), for logs.
 * Must be quick: gossipsub waits for it.
 */
export type GossipValidate<T> = (bytes: Uint8Array, from: string, meta: { via: string }) => GossipVerdict<T> | Promise<GossipVerdict<T>>

export interface GossipChannelComponents {
  pubsub: Pick<GossipSub, 'subscribe' | 'unsubscribe' | 'publish' | 'topicValidators' | 'getSubscribers'>
  logger?: Logger
}

export interface GossipChannelInit<T> {
  topic: string
  /** messages larger than this are rejected before the validator sees them (default one envelope) */
  maxBytes?: number
  validate: GossipValidate<T>
  /** receives each accepted value once, before gossipsub forwards the message */
  onMessage?: (value: T, from: string) => void | Promise<void>
}

export interface GossipChannelStats {
  /** messages that reached this channel's validator (gossipsub drops exact repeats earlier) */
  received: number
  accepted: number
  /** dropped messages by reason */
  dropped: Record<string, number>
  /** messages this node published */
  published: number
  /** accepted messages not forwarded, as their validator asked (`forward: false`) */
  notForwarded: number
}

/**
 * One gossip topic: subscribes, validates every incoming message in gossipsub's validator hook
 * (so invalid ones are neither delivered nor forwarded), counts and logs each drop by reason,
 * and hands accepted values to `onMessage`.
 */
export class GossipChannel<T = unknown> {
  readonly topic: string
  private readonly pubsub: GossipChannelComponents['pubsub']
  private readonly log: RateLimitedLog
  private readonly maxBytes: number
  private readonly recent = new Set<string>()
  private started = false
  private readonly counts = { received: 0, accepted: 0, published: 0, notForwarded: 0 }
  private readonly dropped = new Map<string, number>()

  constructor (components: GossipChannelComponents, private readonly init: GossipChannelInit<T>) {
    if (typeof init.topic !== 'string' || init.topic.length === 0) throw new TypeError('gossip channel: topic must be a non-empty string')
    if (typeof init.validate !== 'function') throw new TypeError('gossip channel: validate must be a function')
    this.maxBytes = init.maxBytes ?? GOSSIP_MAX_MESSAGE_BYTES
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes <= 0) throw new TypeError('gossip channel: maxBytes must be a positive integer')
    this.topic = init.topic
    this.pubsub = components.pubsub
    this.log = new RateLimitedLog(components.logger ?? silentLogger)
    this.validator = this.validator.bind(this)
  }

  isStarted (): boolean { return this.started }

  /** install the validator and subscribe; throws ERR_TOPIC_IN_USE if another validator owns the topic */
  start (): void {
    if (this.started) return
    const existing = this.pubsub.topicValidators.get(this.topic)
    if (existing != null && existing !== this.validator) throw new TopicInUseError(this.topic)
    // the validator goes in first so no message slips through between subscribing and installing it
    this.pubsub.topicValidators.set(this.topic, this.validator)
    this.pubsub.subscribe(this.topic)
    this.started = true
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    this.pubsub.unsubscribe(this.topic)
    if (this.pubsub.topicValidators.get(this.topic) === this.validator) this.pubsub.topicValidators.delete(this.topic)
  }

  /**
   * Publish `bytes`; resolves to the number of peers it was sent to: 0 when none is subscribed,
   * and 0 for bytes already seen on this topic recently (gossipsub sends a message once;
   * sync on connect covers peers that missed it). Throws ERR_TOO_LARGE, ERR_NOT_STARTED,
   * ERR_PUBLISH_FAILED.
   */
  async publish (bytes: Uint8Array): Promise<number> {
    if (!this.started) throw new ChannelNotStartedError(this.topic)
    if (bytes.byteLength > this.maxBytes) throw new MessageTooLargeError(bytes.byteLength, this.maxBytes)
    try {
      const { recipients } = await this.pubsub.publish(this.topic, bytes)
      this.counts.published++
      // our own message coming back after gossipsub's seen-cache forgot it is a repeat, not news
      this.remember(messageId(bytes))
      return recipients.length
    } catch (err) {
      if ((err as Error)?.message === 'PublishError.Duplicate') return 0
      throw new PublishFailedError(this.topic, { cause: err })
    }
  }

  /** the peers gossipsub knows to be subscribed to this topic now */
  subscribers (): string[] {
    return this.pubsub.getSubscribers(this.topic).map(p => p.toString())
  }

  stats (): GossipChannelStats {
    return { ...this.counts, dropped: Object.fromEntries(this.dropped) }
  }

  private async validator (peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
    this.counts.received++
    const via = peer.toString()
    const from = msg.type === 'signed' ? msg.from.toString() : via
    if (!this.started) return this.drop(DROP_STOPPED, true, from, via)
    if (msg.data.byteLength > this.maxBytes) {
      return this.drop(DROP_TOO_LARGE, false, from, via, { size: msg.data.byteLength, limit: this.maxBytes })
    }
    const id = messageId(msg.data)
    if (this.recent.has(id)) return this.drop(DROP_DUPLICATE, true, from, via)

    let verdict: GossipVerdict<T>
    try {
      verdict = await this.init.validate(msg.data, from, { via })
    } catch (err) {
      // a crashing validator is our bug, not the sender's fault: do not penalise it
      return this.drop(DROP_VALIDATOR_ERROR, true, from, via, { err: String(err) })
    }
    if (!this.started) return this.drop(DROP_STOPPED, true, from, via)
    if (!verdict.ok) return this.drop(verdict.reason, verdict.ignore === true, from, via)

    this.remember(id)
    this.counts.accepted++
    this.deliver(verdict.value, from)
    if (verdict.forward === false) {
      // gossipsub neither forwards nor caches an ignored message, and does not blame its sender for it
      this.counts.notForwarded++
      return TopicValidatorResult.Ignore
    }
    return TopicValidatorResult.Accept
  }

  private deliver (value: T, from: string): void {
    const handler = this.init.onMessage
    if (handler == null) return
    const fail = (err: unknown): void => { this.log.log('error', 'handler', 'gossip message handler failed', { topic: this.topic, err: String(err) }) }
    try {
      const result = handler(value, from)
      if (result instanceof Promise) result.catch(fail)
    } catch (err) {
      fail(err)
    }
  }

  private drop (reason: string, ignore: boolean, from: string, via: string, fields: Record<string, unknown> = {}): TopicValidatorResult {
    const key = this.dropped.has(reason) || this.dropped.size < GOSSIP_MAX_DROP_REASONS ? reason : DROP_OTHER
    this.dropped.set(key, (this.dropped.get(key) ?? 0) + 1)
    // repeats and messages racing a stop are normal; everything else points at a peer or a bug
    const level = reason === DROP_DUPLICATE || reason === DROP_STOPPED ? 'debug' : 'warn'
    this.log.log(level, `${key}:${via}`, 'gossip message dropped', { topic: this.topic, reason, from, via, ...fields })
    return ignore ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
  }

  private remember (id: string): void {
    this.recent.add(id)
    if (this.recent.size > GOSSIP_RECENT_IDS) {
      // a Set iterates in insertion order: the first entry is the oldest
      const oldest = this.recent.values().next().value
      if (oldest != null) this.recent.delete(oldest)
    }
  }
}
