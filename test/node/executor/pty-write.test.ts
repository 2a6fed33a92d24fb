import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { PtyCommand } from '../../../node/executor/pty-runner.js'
import { waitFor } from '../../helpers/wait.js'

const READY = 'ready-for-keys'

describe('PtyCommand.write: keys to the terminal at once, never blocking', () => {
  let cmd: PtyCommand | undefined
  let out = Buffer.alloc(0)
  afterEach(async () => {
    cmd?.signalGroup('SIGKILL')
    await cmd?.exited
    cmd = undefined
    out = Buffer.alloc(0)
  })

  /** `cat` in raw mode: what is typed comes back byte for byte, without echo or line editing */
  async function rawCat (): Promise<PtyCommand> {
    await PtyCommand.load()
    const c = new PtyCommand({
      file: '/bin/sh', args: ['-c', `stty raw -echo; printf ${READY}; exec cat`], cwd: '/', env: { TERM: 'xterm', PATH: process.env.PATH ?? '/usr/bin:/bin' },
      cols: 80, rows: 24, onData: d => { out = Buffer.concat([out, d]) }
    })
    await waitFor(() => out.includes(READY), { what: 'the command to start' })
    out = Buffer.alloc(0)
    return c
  }

  it('writes on the pty master, which node-pty opens non-blocking (a full input buffer can never stall the daemon)', async () => {
    cmd = await rawCat()
    const fd = (cmd as unknown as { term: { _fd: number } }).term._fd
    expect(typeof fd).toBe('number')
    if (process.platform === 'linux') {
      const flags = Number.parseInt(/flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8)
      expect(flags & 0o4000).toBe(0o4000)
    }
    cmd.write('x')
    await waitFor(() => out.toString() === 'x', { what: 'the key to come back' })
  })

  it('delivers a paste larger than the pty takes at once, and the writes after it, in order', async () => {
    cmd = await rawCat()
    const pattern = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz')
    const paste = Buffer.alloc(256 * 1024)
    for (let i = 0; i < paste.length; i++) paste[i] = pattern[i % pattern.length]
    // the first write fills the pty's input buffer and leaves the rest to node-pty's writer;
    // the next ones must queue behind it rather than jump ahead
    cmd.write(paste)
    cmd.write('<after-1>')
    cmd.write(Buffer.from('<after-2>'))
    const expected = Buffer.concat([paste, Buffer.from('<after-1><after-2>')])
    await waitFor(() => out.length >= expected.length, { what: 'every byte to come back', timeoutMs: 30_000 })
    expect(out.equals(expected)).toBe(true)
  })
})
