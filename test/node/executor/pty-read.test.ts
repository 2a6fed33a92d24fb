import { describe, expect, it } from 'vitest'
import { PtyCommand } from '../../../node/executor/pty-runner.js'

const ENV = { TERM: 'xterm', PATH: process.env.PATH ?? '/usr/bin:/bin' }

/** a command printing `bytes` of `line`s with the kernel's translation off; what it gave, copied, and the buffers it came in */
function printing (line: string, bytes: number, onFirst?: (cmd: PtyCommand) => void): { cmd: PtyCommand, out: () => Buffer, buffers: Set<ArrayBufferLike> } {
  const chunks: Buffer[] = []
  const buffers = new Set<ArrayBufferLike>()
  const cmd: PtyCommand = new PtyCommand({
    file: '/bin/sh',
    args: ['-c', `stty -opost; yes ${line} | head -c ${bytes}`],
    cwd: '/',
    env: ENV,
    cols: 80,
    rows: 24,
    onData: d => {
      buffers.add(d.buffer)
      chunks.push(Buffer.from(d))
      if (chunks.length === 1) onFirst?.(cmd)
    }
  })
  return { cmd, out: () => Buffer.concat(chunks), buffers }
}

describe('PtyCommand: reading the terminal', () => {
  it('reads every pty into one reused buffer, two commands at once, and loses nothing', async () => {
    await PtyCommand.load()
    const a = printing('aaaaaaaaaaaaaaaaaaa', 1_000_000)
    const b = printing('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 1_000_000)
    expect(await a.cmd.exited).toEqual({ exitCode: 0 })
    expect(await b.cmd.exited).toEqual({ exitCode: 0 })
    expect(a.out().equals(Buffer.from('aaaaaaaaaaaaaaaaaaa\n'.repeat(50_000)))).toBe(true)
    expect(b.out().equals(Buffer.from('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n'.repeat(25_000)))).toBe(true)
    // hundreds of reads each, all into the same memory: no buffer allocated per read
    const all = new Set([...a.buffers, ...b.buffers])
    expect(all.size).toBe(1)
  })

  it('stops reading while paused (the job then blocks on its writes) and reads the rest once resumed', async () => {
    await PtyCommand.load()
    // paused on its first read: the rest of its 2 MB cannot have been read yet
    const p = printing('0123456789', 2_000_000, cmd => { cmd.pause() })
    while (p.out().length === 0) await new Promise(resolve => setTimeout(resolve, 5))
    const at = p.out().length
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(p.out().length).toBe(at)
    expect(p.cmd.running).toBe(true)
    p.cmd.resume()
    expect(await p.cmd.exited).toEqual({ exitCode: 0 })
    expect(p.out().equals(Buffer.from('0123456789\n'.repeat(2_000_000 / 11 + 1)).subarray(0, 2_000_000))).toBe(true)
  })
})
