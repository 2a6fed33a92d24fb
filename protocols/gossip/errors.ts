import { ProtocolError } from '../codec/errors.js'

/** publish or a lifecycle call on a channel that is not started */
export class ChannelNotStartedError extends ProtocolError {
  constructor (topic: string) {
    super('ERR_NOT_STARTED', `gossip channel ${topic} is not started`)
    this.name = 'ChannelNotStartedError'
  }
}

/** another validator already owns the topic: two channels on one topic would each see half the truth */
export class TopicInUseError extends ProtocolError {
  constructor (topic: string) {
    super('ERR_TOPIC_IN_USE', `a validator for gossip topic ${topic} is already installed`)
    this.name = 'TopicInUseError'
  }
}

/** gossipsub refused to publish */
export class PublishFailedError extends ProtocolError {
  constructor (topic: string, options: { cause: unknown }) {
    super('ERR_PUBLISH_FAILED', `publishing on ${topic} failed`, options)
    this.name = 'PublishFailedError'
  }
}
