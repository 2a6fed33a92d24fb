/**
 * Terminal attach: `/cit/attach/1.0.0` lets a member watch (`ro`) or drive (`rw`) the terminal
 * of a job running on another node. One session per stream: a hello, a reply, then CBOR frames
 * in varint length-prefixed frames both ways. Output is paced by credit the viewer grants and
 * buffered per viewer up to a bound; a viewer that falls behind is resynchronised (its queue is
 * dropped, a `resync` frame and the scrollback's tail follow), so no viewer ever slows the job.
 * Both sides ping; a side that hears nothing for the idle limit closes. `AttachService` serves,
 * `attach()` is the client, `AttachService.attachLocal()` attaches to a job on this node.
 * See docs/protocols/attach.md and docs/attach.md.
 */
export { AttachService } from './service.js'
export type { AttachServiceComponents, AttachServiceStats, AttachSessionInfo } from './service.js'
export type { AttachServiceInit } from './options.js'
export { attach, openSession, openChannelSession } from './client.js'
export type { AttachOptions, AttachSession } from './client.js'
export { pairedChannels, serverStreamChannel, clientStreamChannel } from './channel.js'
export type { Channel, ServerChannel, ClientChannel } from './channel.js'
export type { AttachStream } from './util.js'
export { checkSize } from './util.js'
export { ATTACH_REFUSAL_CODES } from './types.js'
export type {
  AttachMode, AttachFrame, AttachEndState, AttachRefusalCode, AttachSessionLike, AttachOutputSource, AttachJobs, AttachAuthorize,
  AuthorizeResult, TerminalSize
} from './types.js'
export {
  encodeHello, encodeReply, encodeClientFrame, encodeServerFrame, parseHello, parseReply, parseClientFrame, parseServerFrame
} from './messages.js'
export type { AttachHello, AttachReply, ClientFrame, ServerFrame } from './messages.js'
export { TokenBucket } from './rate.js'
export { tailOf } from './replay.js'
export {
  ATTACH_REPLY_CODES, AttachRefusedError, AttachTimeoutError, AttachAbortedError, AttachReadOnlyError, AttachClosedError,
  AttachWindowError, InvalidAttachArgumentError, AttachUnreachableError, AttachNotAllowedError
} from './errors.js'
export type { AttachReplyCode } from './errors.js'
export * from './constants.js'
