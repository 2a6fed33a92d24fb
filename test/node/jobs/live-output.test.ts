import { describe, expect, it } from 'vitest'
import { LiveOutput } from '../../../node/jobs/live-output.js'

/** what a late subscriber is given, chunk by chunk */
function replay (live: LiveOutput): Uint8Array[] {
  const seen: Uint8Array[] = []
  live.subscribe({ data: c => { seen.push(c) }, end: () => {} })()
  return seen
}

const text = (chunks: Uint8Array[]): string => Buffer.concat(chunks).toString()

/** a pusher's reused read buffer: each push overwrites what the last one held */
function reader (live: LiveOutput, onlcr: boolean): (s: string) => void {
  const buffer = Buffer.alloc(64 * 1024)
  return s => {
    const n = buffer.write(s)
    live.push(buffer.subarray(0, n), onlcr)
    buffer.fill(0x23)
  }
}

describe('LiveOutput', () => {
  it('copies what it is given: subscribers keep every chunk as it came, and a late one gets the scrollback in one', () => {
    const live = new LiveOutput(1000)
    const push = reader(live, false)
    const seen: Uint8Array[] = []
    live.subscribe({ data: c => { seen.push(c) }, end: () => {} })
    for (const s of ['abc', 'de', 'XY', 'fg']) push(s)
    // the reader's buffer was overwritten after each push: what was given is still there
    expect(seen.map(c => Buffer.from(c).toString())).toEqual(['abc', 'de', 'XY', 'fg'])
    expect(replay(live).map(c => Buffer.from(c).toString())).toEqual(['abcdeXYfg'])
  })

  it('keeps the last bytes past its size, counting what it dropped, and grows its ring as output comes', () => {
    const live = new LiveOutput(10)
    const push = reader(live, false)
    for (const s of ['0123', '4567', 'abcd', 'efgh']) push(s)
    expect(text(replay(live))).toBe('67abcdefgh')
    expect(live.droppedBytes).toBe(6)
    push('a chunk larger than the scrollback')
    expect(text(replay(live))).toBe('scrollback')
    expect(live.droppedBytes).toBe(6 + 10 + 34 - 10)

    // a larger scrollback: its ring starts small, doubles, then wraps around many times
    const big = new LiveOutput(300_000)
    const pushBig = reader(big, false)
    let all = ''
    for (let i = 0; i < 3000; i++) {
      const line = `${i} ${'x'.repeat(i % 250)}|`
      pushBig(line)
      all += line
      if (i % 500 === 0) expect(text(replay(big))).toBe(all.slice(-300_000))
    }
    expect(text(replay(big))).toBe(all.slice(-300_000))
    expect(big.droppedBytes).toBe(all.length - 300_000)
  })

  it('keeps output as read and shows each \\n as \\r\\n to subscribers, live and replayed, as the kernel would', () => {
    const live = new LiveOutput(1 << 20)
    const push = reader(live, true)
    const seen: Uint8Array[] = []
    const chunks = ['begin\n', 'a\nb', '\n\n', 'x\r\n', 'no newline', '\n', 'ü€𝄞\n'.repeat(300)]
    push(chunks[0])
    live.subscribe({ data: c => { seen.push(c) }, end: () => {} })
    for (const c of chunks.slice(1)) push(c)
    const shown = chunks.join('').replaceAll('\n', '\r\n')
    // the late subscriber: the scrollback (translated), then each chunk
    expect(text(seen)).toBe(shown)
    expect(seen.length).toBe(chunks.length)
    expect(text(replay(live))).toBe(shown)
    live.end()
    expect(text(replay(live))).toBe(shown)
  })

  it('replays from a character\'s start, translated, once the scrollback has dropped the start of the output', () => {
    const live = new LiveOutput(100)
    const push = reader(live, true)
    let all = ''
    for (let i = 0; i < 40; i++) {
      const line = `${i}:ü€𝄞\n`
      push(line)
      all += line
    }
    const shown = all.replaceAll('\n', '\r\n')
    const kept = Buffer.concat(replay(live))
    // the last 100 bytes as read, less the continuation bytes of a character cut at its start
    expect(kept.length).toBeGreaterThan(100)
    expect(kept.toString()).not.toContain('\uFFFD')
    expect(shown.endsWith(kept.toString())).toBe(true)
    expect(Buffer.byteLength(kept.toString().replaceAll('\r\n', '\n'))).toBeGreaterThan(96)
  })

  it('keeps the scrollback as shown once output comes in the other mode', () => {
    const live = new LiveOutput(1000)
    live.push(Buffer.from('raw\n'), true)
    live.push(Buffer.from('shown\r\n'), false)
    live.push(Buffer.from('raw again\n'), true)
    expect(text(replay(live))).toBe('raw\r\nshown\r\nraw again\r\n')
    const other = new LiveOutput(1000)
    other.push(Buffer.from('shown\r\n'), false)
    other.push(Buffer.from('raw\n'), true)
    expect(text(replay(other))).toBe('shown\r\nraw\r\n')
  })
})
