import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RECORDER_EVENT_BYTES, RECORDER_EVENT_MS } from '../../../node/executor/constants.js'
import { OutputPipe } from '../../../node/executor/output.js'
import type { OutputPipeInit } from '../../../node/executor/output.js'
import { Recorder } from '../../../node/executor/recorder.js'
import { parseCast, sha256 } from './helpers.js'
import type { Cast } from './helpers.js'

const HEADER = { width: 80, height: 24, timestamp: 1_700_000_000, title: 't', env: { TERM: 'xterm-256color', SHELL: '/bin/sh' } }

describe('Recorder: output events', () => {
  let dir: string
  let path: string
  /** the recorder's clock, in milliseconds */
  let t: number
  let rec: Recorder
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cit-rec-'))
    path = join(dir, 'r.cast')
    t = 1000
    rec = new Recorder(path, HEADER, { now: () => t })
  })
  afterEach(async () => {
    await rec.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  /** close the recording and parse it, checking the hash it was stored under */
  async function finish (): Promise<Cast> {
    await rec.close()
    const bytes = readFileSync(path)
    expect(rec.sha256).toBe(sha256(bytes))
    return parseCast(bytes.toString('utf8'))
  }

  it('gathers the reads of a few milliseconds into one event, timed at its first byte, in order with markers', async () => {
    t = 1005
    rec.outputBytes(Buffer.from('ab'))
    t = 1005 + RECORDER_EVENT_MS - 1
    rec.outputBytes(Buffer.from('c\r\n'))
    t = 1005 + RECORDER_EVENT_MS
    rec.outputBytes(Buffer.from('d'))
    t = 1030
    rec.marker('step')
    t = 1040.5
    rec.outputBytes(Buffer.from('"e"\t\\'))
    rec.resize(90, 20)
    t = 1041
    rec.output('text')
    const cast = await finish()
    expect(cast.header).toEqual({ version: 2, ...HEADER })
    expect(cast.events).toEqual([
      [0.005, 'o', 'abc\r\n'],
      [0.015, 'o', 'd'],
      [0.03, 'm', 'step'],
      [0.0405, 'o', '"e"\t\\'],
      [0.0405, 'r', '90x20'],
      [0.041, 'o', 'text']
    ])
  })

  it('copies what it is given: the caller may reuse its buffer at once', async () => {
    const buf = Buffer.from('first ')
    rec.outputBytes(buf)
    buf.write('later!')
    rec.outputBytes(buf)
    expect((await finish()).output).toBe('first later!')
  })

  it('ends an event once it holds RECORDER_EVENT_BYTES, splitting a larger read', async () => {
    for (let i = 0; i < 10; i++) rec.outputBytes(Buffer.alloc(10_000, 'x'))
    rec.marker('m')
    rec.outputBytes(Buffer.alloc(200_000, 'y'))
    const cast = await finish()
    const quarter = RECORDER_EVENT_BYTES / 4
    expect(cast.events.map(e => e[1] === 'o' ? e[2].length : e[2])).toEqual([70_000, 30_000, 'm', 4 * quarter, 4 * quarter, 4 * quarter, 200_000 - 12 * quarter])
    expect(cast.output).toBe('x'.repeat(100_000) + 'y'.repeat(200_000))
  })

  it('never splits a UTF-8 character between events; one left incomplete at the end of a terminal is U+FFFD', async () => {
    const euro = Buffer.from('€')
    rec.outputBytes(euro.subarray(0, 1))
    t += RECORDER_EVENT_MS
    rec.outputBytes(Buffer.concat([euro.subarray(1), Buffer.from('ü').subarray(0, 1)]))
    t += RECORDER_EVENT_MS
    rec.outputBytes(Buffer.from('ü').subarray(1))
    rec.outputBytes(euro.subarray(0, 2))
    rec.endOutput()
    // a cut at the output limit drops the incomplete character instead
    rec.outputBytes(Buffer.from('a'))
    rec.outputBytes(euro.subarray(0, 2))
    rec.endOutput(true)
    rec.outputBytes(Buffer.from('b'))
    const cast = await finish()
    expect(cast.output).toBe('€ü\uFFFDab')
    expect(cast.events.filter(e => e[1] === 'o').map(e => e[2])).toEqual(['€', 'ü', '\uFFFD', 'a', 'b'])
  })

  it('with onlcr, writes exactly the file the translated bytes make, whatever the reads', async () => {
    // the same output, given translated to one recorder and as read (with onlcr) to the other, on one clock
    const path2 = join(dir, 'translated.cast')
    const other = new Recorder(path2, HEADER, { now: () => t })
    let seed = 5
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    const alphabet = ['a', 'bc ', '\n', '\n\n', '\r\n', '"', '\\', '\t', '\x1b[0m', 'é', '€', '𝄞']
    let text = ''
    while (text.length < 300_000) text += alphabet[rand(alphabet.length)]
    const bytes = Buffer.from(text)
    const reused = Buffer.alloc(40_000)
    let shown = 0
    for (let at = 0, i = 0; at < bytes.length; i++) {
      // pty-sized reads, and now and then one larger than a recorder's piece
      const n = i % 50 === 49 ? 9000 + rand(30_000) : 1 + rand(4096)
      const chunk = bytes.subarray(at, at + n)
      at += n
      const translated = Buffer.from(chunk.toString('latin1').replaceAll('\n', '\r\n'), 'latin1')
      chunk.copy(reused)
      expect(rec.outputBytes(reused.subarray(0, chunk.length), true)).toBe(translated.length)
      reused.fill(0)
      other.outputBytes(translated)
      shown += translated.length
      if (i % 97 === 0) {
        rec.marker(`m${i}`)
        other.marker(`m${i}`)
      }
      t += rand(6)
    }
    rec.endOutput()
    other.endOutput()
    const cast = await finish()
    await other.close()
    expect(readFileSync(path).equals(readFileSync(path2))).toBe(true)
    expect(cast.output).toBe(text.replaceAll('\n', '\r\n'))
    expect(Buffer.byteLength(cast.output)).toBe(shown)
  })

  it('records any bytes as their UTF-8 decoding, escaped as JSON, whatever the reads', async () => {
    let seed = 11
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    const alphabet = ['a', ' ', '"', '\\', '\n', '\r', '\t', '\x1b', '\x00', '\x7f', 'é', '€', '𝄞', '\u2028']
    let text = ''
    while (text.length < 200_000) text += alphabet[rand(alphabet.length)]
    const bytes = Buffer.concat([Buffer.from(text), Buffer.from([0xff, 0x41, 0xed, 0xa0, 0x80, 0x42]), Buffer.from(text.slice(0, 5000)), Buffer.from([0xc3])])
    for (let at = 0; at < bytes.length;) {
      const n = 1 + rand(5000)
      rec.outputBytes(bytes.subarray(at, at + n))
      at += n
      t += rand(4)
    }
    rec.endOutput()
    const cast = await finish()
    expect(cast.output).toBe(bytes.toString('utf8'))
    expect(cast.output).toContain('\uFFFDA\uFFFD\uFFFD\uFFFDB')
    expect(cast.output.endsWith('\uFFFD')).toBe(true)
    expect(cast.events.length).toBeGreaterThan(3)
    // every line as JSON.stringify writes it: the same file the string-based writer made
    for (const line of readFileSync(path, 'utf8').split('\n').slice(1, -1)) expect(JSON.stringify(JSON.parse(line))).toBe(line)
  })
})

describe('OutputPipe', () => {
  /** a run's reads through a pipe into a recording on a fixed clock; the recording's bytes */
  async function piped (dir: string, name: string, reads: string[], listeners: Pick<OutputPipeInit, 'onOutput' | 'onRawOutput'>, maxBytes = 10_000_000): Promise<{ file: Buffer, pipe: OutputPipe, limited: boolean }> {
    let t = 0
    const path = join(dir, name)
    const rec = new Recorder(path, HEADER, { now: () => t })
    let limited = false
    const pipe = new OutputPipe({ recorder: rec, maxBytes, translate: true, ...listeners, onLimit: () => { limited = true }, onOutputError: err => { throw err } })
    // one read buffer, reused as the pty's is
    const buffer = Buffer.alloc(64 * 1024)
    for (const [i, read] of reads.entries()) {
      const n = buffer.write(read)
      pipe.write(buffer.subarray(0, n))
      buffer.fill(0x23)
      t += i % 7
    }
    pipe.end()
    await rec.close()
    return { file: readFileSync(path), pipe, limited }
  }

  it('records the same file with a watcher or without, and gives a raw listener the bytes as read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cit-pipe-'))
    try {
      const reads: string[] = []
      for (let i = 0; i < 2000; i++) reads.push(i % 5 === 0 ? `${i}\r\n` : i % 5 === 1 ? 'ü€𝄞\n'.repeat(i % 30) : `${String(i).padEnd(i % 300, '-')}\n`)
      const alone = await piped(dir, 'alone.cast', reads, {})
      const raw: Buffer[] = []
      const modes = new Set<boolean>()
      const kept: Uint8Array[] = []
      const watched = await piped(dir, 'watched.cast', reads, { onRawOutput: (d, onlcr) => { raw.push(Buffer.from(d)); modes.add(onlcr) }, onOutput: d => { kept.push(d) } })
      expect(watched.file.equals(alone.file)).toBe(true)
      const expected = reads.join('').replaceAll('\n', '\r\n')
      expect(alone.pipe.bytes).toBe(Buffer.byteLength(expected))
      expect(parseCast(alone.file.toString('utf8')).output).toBe(expected)
      expect(Buffer.concat(raw).toString()).toBe(reads.join(''))
      expect([...modes]).toEqual([true])
      // onOutput's views were not overwritten by the reads after them
      expect(Buffer.concat(kept).toString()).toBe(expected)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('cuts the output at its limit as a terminal shows it, even between the \r and \n of a translated newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cit-pipe-'))
    try {
      const reads = ['ab\n', 'cd\nef\n', 'never recorded\n']
      // 'ab\r\n' (4) + 'cd\r' (3): the limit falls after the \r the pipe wrote for the second \n
      const raw: string[] = []
      const shown: string[] = []
      const cut = await piped(dir, 'cut.cast', reads, { onRawOutput: d => { raw.push(Buffer.from(d).toString()) }, onOutput: d => { shown.push(Buffer.from(d).toString()) } }, 7)
      expect(cut.limited).toBe(true)
      expect(cut.pipe.limitReached).toBe(true)
      expect(cut.pipe.bytes).toBe(7)
      expect(parseCast(cut.file.toString('utf8')).output).toBe('ab\r\ncd\r')
      expect(shown).toEqual(['ab\r\n', 'cd\r'])
      // the raw listener gets what it can show within the limit
      expect(raw).toEqual(['ab\n', 'cd'])
      // exactly at the limit: nothing is cut, and the next byte is over it
      const exact = await piped(dir, 'exact.cast', ['ab\n', 'c'], {}, 5)
      expect(exact.limited).toBe(false)
      expect(parseCast(exact.file.toString('utf8')).output).toBe('ab\r\nc')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('gives the listener views that later output never overwrites, the same bytes as recorded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cit-pipe-'))
    try {
      const path = join(dir, 'p.cast')
      const rec = new Recorder(path, HEADER)
      const kept: Uint8Array[] = []
      const pipe = new OutputPipe({ recorder: rec, maxBytes: 10_000_000, translate: true, onOutput: d => { kept.push(d) }, onLimit: () => {}, onOutputError: err => { throw err } })
      let expected = ''
      // short lines (the byte loop), long lines (the native replace) and no newline at all, over many slabs
      for (let i = 0; i < 600; i++) {
        const line = i % 3 === 0 ? `${i}\n` : i % 3 === 1 ? `${String(i).padEnd(90, '-')}\n` : `${i};`
        const chunk = line.repeat(1 + (i % 40))
        pipe.write(Buffer.from(chunk))
        expected += chunk.replaceAll('\n', '\r\n')
      }
      pipe.end()
      await rec.close()
      expect(Buffer.concat(kept).toString()).toBe(expected)
      expect(pipe.bytes).toBe(expected.length)
      expect(parseCast(readFileSync(path, 'utf8')).output).toBe(expected)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
