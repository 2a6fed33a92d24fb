import type { AttachOutputSource } from './types.js'

const NEWLINE = 0x0a

/**
 * The last `maxBytes` of `chunks`, as one array. When something had to be cut, the tail starts
 * after the first newline within `alignBytes` (if any), so a viewer does not begin mid-line or
 * in the middle of a UTF-8 character or an escape sequence that ends with the line.
 */
export function tailOf (chunks: readonly Uint8Array[], maxBytes: number, alignBytes: number): Uint8Array {
  let total = 0
  let first = chunks.length
  while (first > 0 && total < maxBytes) {
    first--
    total += chunks[first].byteLength
  }
  const size = Math.min(total, maxBytes)
  const out = new Uint8Array(size)
  let offset = size
  for (let i = chunks.length - 1; i >= first && offset > 0; i--) {
    const chunk = chunks[i]
    const take = Math.min(chunk.byteLength, offset)
    out.set(chunk.subarray(chunk.byteLength - take), offset - take)
    offset -= take
  }
  const cut = first > 0 || total > maxBytes
  if (!cut) return out
  const newline = out.subarray(0, Math.min(alignBytes, out.byteLength)).indexOf(NEWLINE)
  return newline >= 0 ? out.subarray(newline + 1) : out
}

/**
 * The scrollback's tail now. Subscribing replays the scrollback synchronously, so unsubscribing
 * straight after leaves exactly what has been printed up to this moment: a live subscription
 * that goes on after this sees every later chunk and none of these.
 */
export function scrollbackTail (source: AttachOutputSource, maxBytes: number, alignBytes: number): Uint8Array {
  const chunks: Uint8Array[] = []
  const unsubscribe = source.subscribe({ data: chunk => { chunks.push(chunk) }, end: () => {} })
  unsubscribe()
  return tailOf(chunks, maxBytes, alignBytes)
}
