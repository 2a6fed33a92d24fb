import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import * as pty from 'node-pty'
import ts from 'typescript'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DetachScanner } from '../../../cli/attach/keys.js'
import { waitFor } from '../../helpers/wait.js'

const ROOT = resolve(import.meta.dirname, '../../..')
/** the harness and what it runs, relative to the repository (type-only imports vanish in transpiling) */
const SOURCES = ['cli/attach/terminal.ts', 'cli/attach/keys.ts', 'test/cli/attach/fixtures/terminal-harness.ts']

/** The harness in a real pty: what it printed, how it exited, and the report it printed last. */
class Harness {
  text = ''
  exit?: { exitCode: number, signal?: number }
  private readonly term: pty.IPty

  constructor (script: string, mode: 'ro' | 'rw') {
    this.term = pty.spawn(process.execPath, [script, mode], { name: 'xterm', cols: 80, rows: 24, cwd: dirname(script), env: { ...process.env } as Record<string, string> })
    this.term.onData(data => { this.text += data })
    this.term.onExit(exit => { this.exit = exit })
  }

  type (keys: string): void { this.term.write(keys) }
  resize (cols: number, rows: number): void { this.term.resize(cols, rows) }
  async see (text: string): Promise<void> {
    await waitFor(() => this.text.includes(text), { what: `"${text}" on the terminal; it shows ${JSON.stringify(this.text.slice(-300))}` })
  }

  async exited (): Promise<{ exitCode: number, report: Record<string, unknown> }> {
    await waitFor(() => this.exit !== undefined, { what: 'the harness to exit' })
    const line = this.text.split(/\r?\n/).find(l => l.startsWith('RESULT '))
    if (line === undefined) throw new Error(`no report; the terminal shows ${JSON.stringify(this.text.slice(-500))}`)
    return { exitCode: this.exit!.exitCode, report: JSON.parse(line.slice('RESULT '.length)) }
  }

  kill (): void {
    if (this.exit === undefined) this.term.kill('SIGKILL')
  }
}

describe('cli/attach/terminal.ts through a real pty', () => {
  let dir: string
  let script: string
  const started: Harness[] = []

  beforeAll(async () => {
    // Node 20 runs no TypeScript: transpile the few files into a temp dir with the same layout
    dir = await mkdtemp(join(tmpdir(), 'cit-attach-term-'))
    await writeFile(join(dir, 'package.json'), '{"type":"module"}\n')
    for (const file of SOURCES) {
      const { outputText } = ts.transpileModule(await readFile(join(ROOT, file), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true }
      })
      const out = join(dir, file.replace(/\.ts$/, '.js'))
      await mkdir(dirname(out), { recursive: true })
      await writeFile(out, outputText)
    }
    script = join(dir, 'test/cli/attach/fixtures/terminal-harness.js')
  })

  afterEach(() => {
    for (const h of started.splice(0)) h.kill()
  })

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  function start (mode: 'ro' | 'rw'): Harness {
    const h = new Harness(script, mode)
    started.push(h)
    return h
  }

  it('rw: raw keys (Ctrl-C included) reach the job at once, resizes follow the terminal, Ctrl-] d detaches and restores the terminal', async () => {
    const h = start('rw')
    await h.see('job says hi')
    await h.see('detach with Ctrl-] d')
    // no Enter: a cooked terminal would hold these back, and echo them
    h.type('abc')
    await h.see('[keys:616263]')
    expect(h.text).not.toMatch(/abc/)
    // Ctrl-C is a key for the job, not SIGINT for the harness
    h.type('\x03')
    await h.see('[keys:03]')
    expect(h.exit).toBeUndefined()
    // Ctrl-] followed by another key sends both; twice sends one
    h.type('\x1dx')
    await h.see('[keys:1d78]')
    h.type('\x1d')
    h.type('\x1d')
    await h.see('[keys:1d]')
    h.resize(100, 30)
    await h.see('[resize:100x30]')
    h.type('\x1dd')
    const { exitCode, report } = await h.exited()
    expect(exitCode).toBe(0)
    expect(report).toMatchObject({ how: 'detached', exitCode: 0, restored: true, isRaw: false })
    expect(h.text).toContain('detached from loopback; it keeps running')
  })

  it('ro: keys are not sent, Ctrl-C detaches, the terminal is restored', async () => {
    const h = start('ro')
    await h.see('job says hi')
    await h.see('read-only')
    h.type('abc')
    await h.see('keys are not sent to the job')
    h.type('\x03')
    const { exitCode, report } = await h.exited()
    expect(exitCode).toBe(0)
    expect(report).toMatchObject({ how: 'detached', writes: 0, restored: true, isRaw: false })
    expect(h.text).not.toContain('[keys:')
  })

  it('prints the final state when the job ends and exits 1 for a failed job', async () => {
    const h = start('rw')
    await h.see('job says hi')
    h.type('Z')
    const { exitCode, report } = await h.exited()
    expect(exitCode).toBe(1)
    expect(report).toMatchObject({ how: 'ended', end: { state: 'failed', exitCode: 3 }, restored: true, isRaw: false })
    expect(h.text).toContain('job loopback ended: failed (exit 3): the loopback job was told to fail')
  })
})

describe('DetachScanner', () => {
  it('finds Ctrl-] d across chunks and passes every other key through', () => {
    const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text))
    const s = new DetachScanner()
    expect(s.feed(bytes('ab\x03'))).toEqual({ forward: bytes('ab\x03'), detach: false })
    expect(s.feed(bytes('x\x1d'))).toEqual({ forward: bytes('x'), detach: false })
    expect(s.feed(bytes('dzz'))).toEqual({ forward: bytes(''), detach: true })
    expect(new DetachScanner().feed(bytes('\x1d\x1d\x1dq'))).toEqual({ forward: bytes('\x1d\x1dq'), detach: false })
  })
})
