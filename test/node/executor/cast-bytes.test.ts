import { describe, expect, it } from 'vitest'
import { MAX_ESCAPE_BYTES, escapeJson, incompleteTail } from '../../../node/executor/cast-bytes.js'

describe('recording bytes', () => {
  it('escapes every byte exactly as JSON.stringify does, wherever it falls in a word', () => {
    for (let shift = 0; shift < 8; shift++) {
      let text = 'ab'.repeat(shift)
      for (let b = 0; b < 0x80; b++) text += `${String.fromCharCode(b)}plain text é€ `
      const src = Buffer.from(text)
      const out = Buffer.alloc(3 + src.length * MAX_ESCAPE_BYTES, 0x2a)
      const end = escapeJson(src, out, 3)
      expect(out.subarray(0, 3).toString()).toBe('***')
      expect(out.subarray(3, end).toString()).toBe(JSON.stringify(text).slice(1, -1))
    }
  })

  it('finds a character left incomplete at the end, and only then', () => {
    const tail = (s: Buffer): number => incompleteTail(s, s.length)
    const euro = Buffer.from('€') // e2 82 ac
    const clef = Buffer.from('𝄞') // f0 9d 84 9e
    expect(tail(Buffer.from('abc'))).toBe(0)
    expect(tail(Buffer.concat([Buffer.from('a'), euro]))).toBe(0)
    expect(tail(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]))).toBe(1)
    expect(tail(Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)]))).toBe(2)
    expect(tail(clef.subarray(0, 3))).toBe(3)
    expect(tail(clef)).toBe(0)
    // not the start of a character: left to the decoder, which replaces it
    expect(tail(Buffer.from([0x41, 0x82]))).toBe(0)
    expect(tail(Buffer.from([0xff]))).toBe(0)
    expect(tail(Buffer.from([0x80, 0x80, 0x80, 0x80]))).toBe(0)
    expect(incompleteTail(Buffer.concat([euro.subarray(0, 2), Buffer.from('xyz')]), 2)).toBe(2)
  })
})
