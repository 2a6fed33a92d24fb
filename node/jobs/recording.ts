import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'

/**
 * The terminal output of an asciicast v2 recording: the text of its `"o"` events, in order.
 * Lines that are not events (the header, malformed lines) are passed over.
 */
export async function * castOutput (source: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const lines = createInterface({ input: Readable.from(source), crlfDelay: Infinity })
  let first = true
  for await (const line of lines) {
    if (first) { first = false; continue }
    if (line.length === 0) continue
    let ev: unknown
    try {
      ev = JSON.parse(line)
    } catch {
      continue
    }
    if (Array.isArray(ev) && ev[1] === 'o' && typeof ev[2] === 'string') yield ev[2]
  }
}
