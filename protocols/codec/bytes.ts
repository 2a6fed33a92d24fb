/**
 * `bytes` itself when it is the whole of its buffer, else a copy that is. For bytes kept long
 * (a stored record, a vote remembered per job): a view into a larger buffer (a received frame, a
 * decoded message, a slice of Node.js's shared 8 KiB Buffer pool) keeps all of that buffer alive
 * for as long as the view is kept.
 */
export function ownBytes (bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
}
