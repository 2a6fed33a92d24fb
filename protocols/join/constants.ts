export const JOIN_PROTOCOL = '/cit/join/1.0.0'
/** an enrollment record is small; anything bigger is refused before it is buffered */
export const MAX_JOIN_REQUEST_BYTES = 8 * 1024
/** the reply carries the mesh's trust records and a few addresses */
export const MAX_JOIN_REPLY_BYTES = 4 * 1024 * 1024
/** each side's deadline for one frame */
export const JOIN_FRAME_TIMEOUT_MS = 10_000
/** addresses of members handed to a joiner */
export const MAX_JOIN_ADDRS = 64

/** after answering an invite key, its connection is closed this much later */
export const JOIN_HANGUP_GRACE_MS = 1000
