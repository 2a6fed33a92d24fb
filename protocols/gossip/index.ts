/**
 * Gossip topics for signed records (jobs, events, load reports, trust records). A channel
 * validates each message in gossipsub's validator hook, so what it rejects is neither delivered
 * nor forwarded, and counts every drop by reason. Gossip loses messages: `protocols/sync/`
 * fills the gaps when peers connect.
 */
export { GossipChannel } from './channel.js'
export type { GossipChannelComponents, GossipChannelInit, GossipChannelStats, GossipValidate, GossipVerdict } from './channel.js'
export { ChannelNotStartedError, PublishFailedError, TopicInUseError } from './errors.js'
export * from './constants.js'
export { BUNDLE_MAX_RECORDS, BUNDLE_MIN_RECORDS, decodeBundle, encodeBundle } from './bundle.js'
