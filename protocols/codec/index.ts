/**
 * The wire codec: canonical CBOR, Ed25519 identities (node:crypto) and signed envelopes.
 * Every message a node acts on is an envelope verified over the exact bytes received.
 */
export { ownBytes } from './bytes.js'
export { linkedSignal } from './signals.js'
export type { LinkedSignal } from './signals.js'
export { encodeCbor, decodeCbor, isRecord } from './cbor.js'
export { Identity, verifySignature, keyIdOf, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './keys.js'
export { seal, open, recordId, sha256Hex, MAX_ENVELOPE_BYTES, ENVELOPE_VERSION } from './envelope.js'
export type { Envelope, Signed } from './envelope.js'
export { ProtocolError, MalformedMessageError, MessageTooLargeError, BadSignatureError, NonCanonicalError } from './errors.js'
export { FrameReader, STREAM_ERRORS, abortReason, encodeFrame, encodeVarint, writeFrame } from './frames.js'
export type { Chunk, FrameErrors, FrameSink } from './frames.js'
export { StreamAbortedError, StreamResetError, StreamTimeoutError } from './errors.js'
