/**
 * Byte-level helpers of the recording: terminal output goes from the pty into the asciicast's JSON
 * without becoming a JavaScript string. The daemon runs with a small young generation, so every
 * string made per read costs a scavenge every few hundred reads; byte loops over reused buffers
 * cost none.
 */

/** the most bytes one input byte becomes (`\u00XX`) */
export const MAX_ESCAPE_BYTES = 6

/** for each byte: 0 when it stands for itself in a JSON string, else the letter of its escape (`u` for `\u00XX`) */
const ESCAPES = new Uint8Array(256)
for (let b = 0; b < 0x20; b++) ESCAPES[b] = 0x75
// the short forms JSON.stringify writes, so a recording is byte for byte what it would write
for (const [b, letter] of [[0x08, 'b'], [0x09, 't'], [0x0a, 'n'], [0x0c, 'f'], [0x0d, 'r'], [0x22, '"'], [0x5c, '\\']] as const) {
  ESCAPES[b] = letter.charCodeAt(0)
}
const HEX = Buffer.from('0123456789abcdef', 'latin1')

/** newlines escaped as `\r\n` so far (see `escapeJson`) */
export interface NewlineCount {
  newlines: number
}

/**
 * `src` escaped as the inside of a JSON string, written into `out` from `at` (which has room for
 * MAX_ESCAPE_BYTES × `src`); returns where it ended. Bytes of 0x80 and up are copied unchanged,
 * so UTF-8 stays UTF-8 (checked when the event is written, see `incompleteTail`).
 *
 * With `onlcr`, each `\n` is written as the escape of `\r\n` (the kernel's ONLCR, done here in
 * the same pass instead of in a translated copy) and counted in `onlcr.newlines`.
 */
export function escapeJson (src: Uint8Array, out: Uint8Array, at: number, onlcr?: NewlineCount): number {
  const n = src.length
  const words = new DataView(src.buffer, src.byteOffset, n)
  const into = new DataView(out.buffer, out.byteOffset, out.length)
  let to = at
  let i = 0
  while (i < n) {
    // four bytes at a time while none needs escaping (most output): a byte below 0x20, `"` or `\`
    // shows as a set high bit in these (the classic "has a byte less than / equal to" tests)
    if (i + 4 <= n) {
      const x = words.getInt32(i, true)
      const q = x ^ 0x22222222
      const s = x ^ 0x5c5c5c5c
      if (((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) === 0) {
        into.setInt32(to, x, true)
        to += 4
        i += 4
        continue
      }
    }
    for (const end = Math.min(i + 4, n); i < end; i++) {
      const b = src[i]
      if (b === 0x0a && onlcr !== undefined) {
        // `\r\n`, as JSON.stringify writes the translated pair
        out[to] = 0x5c
        out[to + 1] = 0x72
        out[to + 2] = 0x5c
        out[to + 3] = 0x6e
        to += 4
        onlcr.newlines++
      } else {
        to = escapeByte(b, out, to)
      }
    }
  }
  return to
}

function escapeByte (b: number, out: Uint8Array, at: number): number {
  const e = ESCAPES[b]
  if (e === 0) {
    out[at] = b
    return at + 1
  }
  out[at] = 0x5c
  out[at + 1] = e
  if (e !== 0x75) return at + 2
  out[at + 2] = 0x30
  out[at + 3] = 0x30
  out[at + 4] = HEX[b >> 4]
  out[at + 5] = HEX[b & 15]
  return at + 6
}

/**
 * How many bytes at the end of `buf[0, end)` start a UTF-8 character that is not complete yet
 * (0 when the last character is whole, or is no valid start of one). Cutting there never changes
 * how the bytes decode: the cut is at a lead byte, where a decoder starts afresh anyway.
 */
export function incompleteTail (buf: Uint8Array, end: number): number {
  let i = end - 1
  // step back over at most 3 continuation bytes (10xxxxxx) to the character's lead byte
  while (i >= 0 && end - i <= 3 && (buf[i] & 0xc0) === 0x80) i--
  if (i < 0) return 0
  const lead = buf[i]
  const length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0
  const have = end - i
  return length > have ? have : 0
}
