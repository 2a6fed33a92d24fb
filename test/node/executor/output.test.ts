import { describe, expect, it } from 'vitest'
import { translateNewlines, utf8Boundary } from '../../../node/executor/output.js'
import { sentinelPrefixAtEnd } from '../../../node/executor/pty-runner.js'
import { STEP_END_SENTINEL } from '../../../node/executor/constants.js'

describe('output path', () => {
  it('translates \\n to \\r\\n exactly as the kernel does', () => {
    expect(translateNewlines(Buffer.from('a\nb\n\nc')).toString()).toBe('a\r\nb\r\n\r\nc')
    expect(translateNewlines(Buffer.from('x\r\n')).toString()).toBe('x\r\r\n')
    const plain = Buffer.from('no newline')
    expect(translateNewlines(plain)).toBe(plain)
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
