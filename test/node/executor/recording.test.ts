import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { makeFixture, readBlob, readCast, sha256, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'

describe('Executor: the recording', () => {
  let fx: Fixture
  beforeEach(async () => { fx = await makeFixture({ cols: 100, rows: 30 }) })
  afterEach(async () => { await fx.cleanup() })

  it('is valid asciicast v2 with markers, stored under its sha256, holding exactly what the job printed', async () => {
    let live = Buffer.alloc(0)
    const before = Math.floor(Date.now() / 1000)
    const result = await fx.executor.run({
      jobId: 'r1',
      spec: spec('rec', [
        stage('build', [['hello', 'echo hello; printf "no newline"'], ['make', 'printf "a\\nb\\n"']], { onSuccess: 'echo built' })
      ], { onStart: 'echo begin' }),
      params: {},
      onOutput: data => { live = Buffer.concat([live, data]) }
    })
    expect(result.outcome).toBe('succeeded')
    const bytes = await readBlob(fx.blobs, result.log)
    expect(sha256(bytes)).toBe(result.log)
    const cast = await readCast(fx.blobs, result.log)
    expect(cast.header).toMatchObject({ version: 2, width: 100, height: 30, title: 'rec', env: { TERM: 'xterm-256color' } })
    expect(cast.header.env.SHELL).toMatch(/\/(ba)?sh$/)
    expect(cast.header.timestamp).toBeGreaterThanOrEqual(before)
    expect(cast.markers).toEqual([
      'job: onStart', 'exit 0', 'stage: build / step: hello', 'exit 0', 'stage: build / step: make', 'exit 0',
      'stage: build / onSuccess', 'exit 0', 'cit: succeeded'
    ])
    // output as a terminal shows it: \n became \r\n, in order, nothing else
    expect(cast.output).toBe('begin\r\nhello\r\nno newlinea\r\nb\r\nbuilt\r\n')
    expect(live.toString('utf8')).toBe(cast.output)
    const times = cast.events.map(e => e[0])
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(times[0]).toBeGreaterThanOrEqual(0)
  })

  it('never splits a multi-byte UTF-8 character, even in large output', async () => {
    const result = await fx.executor.run({
      jobId: 'r2',
      // 8000 × (2 + 3 + 4 bytes + newline): many pty reads, each free to end inside a character, and more than
      // one event whatever the timing (an event holds at most RECORDER_EVENT_BYTES)
      spec: spec('utf8', [stage('s', [['print', "i=0; while [ $i -lt 8000 ]; do printf 'ü€𝄞\\n'; i=$((i+1)); done"]])]),
      params: {}
    })
    expect(result.outcome).toBe('succeeded')
    const cast = await readCast(fx.blobs, result.log)
    expect(cast.output).not.toContain('\uFFFD')
    expect(cast.output).toBe('ü€𝄞\r\n'.repeat(8000))
    expect(cast.events.filter(e => e[1] === 'o').length).toBeGreaterThan(1)
  })

  it('never loses the tail of a step that floods the terminal up to its exit', async () => {
    // libuv takes the pty's POLLHUP for end of file while output is still buffered: without the
    // executor's own slave descriptor and the wrapper's end sentinel, ~30% of these tails were lost
    const steps = Array.from({ length: 10 }, (_, i): [string, string] => [`flood ${i}`, `yes 0123456789012345678901234567890123456789 | head -c 2000000; echo END-${i}`])
    const result = await fx.executor.run({ jobId: 'tail', spec: spec('tail', [stage('s', steps)]), params: {} })
    expect(result.outcome).toBe('succeeded')
    const cast = await readCast(fx.blobs, result.log)
    for (let i = 0; i < 10; i++) expect(cast.output).toContain(`END-${i}\r\n`)
    expect(cast.output).not.toContain('cit-step-end')
    expect(Buffer.byteLength(cast.output)).toBe(10 * (2_000_000 + Math.floor(2_000_000 / 41) + 'END-0\r\n'.length))
  })

  it('forwards keys and resizes to the running step (attach), recording the resize', async () => {
    let seen = ''
    const running = fx.executor.run({
      jobId: 'r3',
      spec: spec('attach', [stage('s', [['ask', 'echo ready; read -r line; echo "got:$line"; stty size']])], { timeoutMs: 20_000 }),
      params: {},
      onOutput: data => { seen += Buffer.from(data).toString() }
    })
    await waitFor(() => seen.includes('ready'), { timeoutMs: 10_000, what: 'the step to start' })
    fx.executor.resize('r3', 90, 25)
    expect(fx.executor.write('r3', 'hello\r')).toBe(true)
    const result = await running
    expect(result.outcome).toBe('succeeded')
    const cast = await readCast(fx.blobs, result.log)
    expect(cast.output).toContain('got:hello')
    expect(cast.output).toContain('25 90')
    expect(cast.events.some(e => e[1] === 'r' && e[2] === '90x25')).toBe(true)
    expect(() => fx.executor.write('r3', 'x')).toThrow(expect.objectContaining({ code: 'ERR_JOB_NOT_RUNNING' }))
    expect(() => fx.executor.resize('r3', 0, 10)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_TERMINAL_SIZE' }))
  })

  it('passes a large output through with the kernel\'s output processing off, translated once in the executor', async () => {
    const live: Uint8Array[] = []
    const result = await fx.executor.run({
      jobId: 'r4',
      // the step's terminal has the kernel's output processing off (`-opost`), so the executor's
      // translation is the only one: the recording's length below says each \n became \r\n once
      spec: spec('fast', [stage('s', [['flood', 'stty -a | grep -o -- "-opost" | head -n1; yes 0123456789012345678901234567890123456789 | head -c 30000000']])]),
      params: {},
      // kept as given: the views must still hold what they held when they came
      onOutput: data => { live.push(data) }
    })
    expect(result.outcome).toBe('succeeded')
    const cast = await readCast(fx.blobs, result.log)
    expect(cast.output.startsWith('-opost\r\n')).toBe(true)
    const flood = cast.output.slice('-opost\r\n'.length)
    const lines = 30_000_000 / 41
    expect(flood.length).toBe(30_000_000 + Math.floor(lines))
    expect(flood.slice(0, 43)).toBe('0123456789012345678901234567890123456789\r\n0')
    expect(Buffer.concat(live).equals(Buffer.from(cast.output))).toBe(true)
    const times = cast.events.map(e => e[0])
    expect(times).toEqual([...times].sort((a, b) => a - b))
  })
})
