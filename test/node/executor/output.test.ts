import { describe, expect, it } from 'vitest'
import { translateNewlines, utf8Boundary } from '../../../node/executor/output.js'
import { sentinelPrefixAtEnd } from '../../../node/executor/pty-runner.js'
import { STEP_END_SENTINEL } from '../../../node/executor/constants.js'

/** `chunk` translated into a fresh buffer, after a prefix the translation must leave alone */
function translated (chunk: Buffer): Buffer {
  const out = Buffer.alloc(3 + chunk.length * 2, 0x2a)
  const end = translateNewlines(chunk, out, 3)
  expect(out.subarray(0, 3).toString()).toBe('***')
  return out.subarray(3, end)
}

describe('output path', () => {
  it('translates \\n to \\r\\n exactly as the kernel does', () => {
    expect(translated(Buffer.from('a\nb\n\nc')).toString()).toBe('a\r\nb\r\n\r\nc')
    expect(translated(Buffer.from('x\r\n')).toString()).toBe('x\r\r\n')
    expect(translated(Buffer.from('no newline')).toString()).toBe('no newline')
  })

  it('translates long and short lines, any bytes, alike by either of its two ways', () => {
    // the byte loop (short lines) and the native latin1 replace (long lines) must agree with the reference
    const reference = (b: Buffer): Buffer => {
      const out: number[] = []
      for (const byte of b) { if (byte === 10) out.push(13); out.push(byte) }
      return Buffer.from(out)
    }
    let seed = 7
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    for (const lineBytes of [1, 2, 5, 23, 24, 25, 100, 4000]) {
      const parts: number[] = []
      while (parts.length < 64 * 1024) {
        for (let i = 0; i < lineBytes; i++) parts.push(rand(256) === 10 ? 11 : rand(256))
        parts.push(10)
      }
      const chunk = Buffer.from(parts)
      expect(translated(chunk).equals(reference(chunk)), `lines of ${lineBytes} bytes`).toBe(true)
    }
  })

  it('cuts at a UTF-8 character boundary', () => {
    const buf = Buffer.from('aü€𝄞') // 1 + 2 + 3 + 4 bytes
    expect(utf8Boundary(buf, 1)).toBe(1)
    expect(utf8Boundary(buf, 2)).toBe(1) // inside ü
    expect(utf8Boundary(buf, 3)).toBe(3)
    expect(utf8Boundary(buf, 5)).toBe(3) // inside €
    expect(utf8Boundary(buf, 8)).toBe(6) // inside 𝄞
    expect(utf8Boundary(buf, 10)).toBe(10)
    expect(utf8Boundary(buf, 99)).toBe(10)
  })

  it('finds a step-end sentinel cut at the end of a read', () => {
    const sentinel = Buffer.from(STEP_END_SENTINEL, 'latin1')
    expect(sentinelPrefixAtEnd(Buffer.from('plain text'))).toBe(0)
    expect(sentinelPrefixAtEnd(Buffer.concat([Buffer.from('abc'), sentinel.subarray(0, 1)]))).toBe(1)
    expect(sentinelPrefixAtEnd(Buffer.concat([Buffer.from('abc'), sentinel.subarray(0, 7)]))).toBe(7)
    // an escape sequence that is not the sentinel is passed on at once
    expect(sentinelPrefixAtEnd(Buffer.from('abc\x1b[0m'))).toBe(0)
    expect(sentinelPrefixAtEnd(Buffer.from('abc\x1b]7700;x'))).toBe(0)
  })
})
