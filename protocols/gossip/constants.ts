import { MAX_ENVELOPE_BYTES } from '../codec/envelope.js'

/** default per-message limit: one signed envelope */
export const GOSSIP_MAX_MESSAGE_BYTES = MAX_ENVELOPE_BYTES
/** ids of recently accepted messages remembered to drop repeats gossipsub's seen-cache has forgotten */
export const GOSSIP_RECENT_IDS = 8192
/** distinct drop reasons counted by name; further ones are counted as `other` */
export const GOSSIP_MAX_DROP_REASONS = 64

/** drop reasons the channel itself assigns (validators add their own) */
export const DROP_TOO_LARGE = 'too-large'
export const DROP_DUPLICATE = 'duplicate'
export const DROP_VALIDATOR_ERROR = 'validator-error'
export const DROP_STOPPED = 'stopped'
export const DROP_OTHER = 'other'
