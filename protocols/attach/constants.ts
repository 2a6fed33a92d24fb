/** Defaults and limits of the attach protocol. Units are in the names. docs/protocols/attach.md lists them. */

/** one terminal session per stream: a hello, a reply, then typed frames both ways */
export const ATTACH_PROTOCOL = '/cit/attach/1.0.0'

const KiB = 1024
const MiB = 1024 * KiB

/** both sides send a ping this often, whatever else they send */
export const ATTACH_PING_INTERVAL_MS = 10_000
/** a side that hears nothing (not even a ping) for this long closes the session */
export const ATTACH_IDLE_TIMEOUT_MS = 30_000
/** the server waits this long for the hello, the client as long for the reply */
export const ATTACH_HELLO_TIMEOUT_MS = 10_000
/** after the job ended, the rest of the output and the end frame must reach the viewer within this */
export const ATTACH_END_FLUSH_TIMEOUT_MS = 30_000
/** a graceful close (detach, end) waits this long for the other side to close too, then resets */
export const ATTACH_CLOSE_TIMEOUT_MS = 5_000

/**
 * Output queued for one viewer and not yet sent (no credit, or the stream is not drained). Past
 * this the queue is dropped and the viewer gets a `resync` frame and the scrollback's tail: a slow
 * viewer costs the node at most this much memory and never slows the job.
 */
export const ATTACH_MAX_BUFFERED_BYTES = 1 * MiB
/** the tail of the scrollback sent on attach and after a resync (at most half the buffer bound) */
export const ATTACH_REPLAY_BYTES = 256 * KiB
/** a trimmed tail starts after the first newline found within this many bytes, so it starts on a line */
export const ATTACH_REPLAY_ALIGN_BYTES = 8 * KiB

/** credit a client grants in its hello (output bytes the server may send before more credit) */
export const ATTACH_WINDOW_BYTES = 1 * MiB
/** the client grants more credit after its consumer has taken this many output bytes */
export const ATTACH_ACK_BYTES = 256 * KiB
/** outstanding credit a server accepts; a client granting more is cut off (ERR_WINDOW) */
export const ATTACH_MAX_WINDOW_BYTES = 8 * MiB

/** output bytes per `output` frame at most */
export const ATTACH_MAX_OUTPUT_CHUNK_BYTES = 32 * KiB
/** input bytes per `input` frame at most (the client splits larger writes) */
export const ATTACH_MAX_INPUT_CHUNK_BYTES = 4 * KiB
/** sustained input rate of one rw session; a client paces itself to it, a server drops what exceeds it */
export const ATTACH_INPUT_BYTES_PER_SEC = 64 * KiB
/** input a session may send at once before the rate applies (a paste) */
export const ATTACH_INPUT_BURST_BYTES = 64 * KiB
/** resizes of one session are applied at most this often; the latest one in between wins */
export const ATTACH_MIN_RESIZE_INTERVAL_MS = 100
/** refusal notices (ERR_READ_ONLY, ERR_RATE_LIMITED, ...) to one session at most this often; the rest are counted */
export const ATTACH_NOTICE_INTERVAL_MS = 1_000

/** the hello frame at most */
export const ATTACH_MAX_HELLO_BYTES = 512
/** the reply frame at most */
export const ATTACH_MAX_REPLY_BYTES = 512
/** any client → server frame after the hello at most (an input chunk plus CBOR overhead) */
export const ATTACH_MAX_CLIENT_FRAME_BYTES = ATTACH_MAX_INPUT_CHUNK_BYTES + 64
/** any server → client frame after the reply at most (an output chunk, or an end frame with its reason in UTF-8) */
export const ATTACH_MAX_SERVER_FRAME_BYTES = ATTACH_MAX_OUTPUT_CHUNK_BYTES + 8 * KiB
/** the longest job reference accepted in a hello (job ids are 64 hex digits) */
export const ATTACH_MAX_JOB_CHARS = 128
/** the longest reason carried by an end frame (longer ones are cut) */
export const ATTACH_MAX_REASON_CHARS = 1024
/** terminal sizes: the executor's bounds */
export const ATTACH_MAX_COLS = 1000
export const ATTACH_MAX_ROWS = 1000
/** terminal size reported when the job's holder does not know it */
export const ATTACH_DEFAULT_COLS = 120
export const ATTACH_DEFAULT_ROWS = 40

/** sessions on one job at once; more are answered ERR_BUSY */
export const ATTACH_MAX_SESSIONS_PER_JOB = 16
/** sessions on this node at once; more are answered ERR_BUSY */
export const ATTACH_MAX_SESSIONS = 64
/** inbound attach streams per connection (libp2p refuses more) */
export const ATTACH_MAX_STREAMS_PER_CONNECTION = 8
