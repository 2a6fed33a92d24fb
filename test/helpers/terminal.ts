import * as pty from 'node-pty'
import { CLI } from './cli.js'
import { waitFor } from './wait.js'

/** `cit-node attach` in a real terminal */
export class AttachTerminal {
  text = ''
  exit?: number
  private readonly term: pty.IPty
  constructor (home: string, args: string[], size = { cols: 100, rows: 30 }) {
    this.term = pty.spawn(process.execPath, [CLI, 'attach', ...args], { name: 'xterm', ...size, env: { ...process.env, CIT_HOME: home } as Record<string, string> })
    this.term.onData(d => { this.text += d })
    this.term.onExit(e => { this.exit = e.exitCode })
  }

  type (keys: string): void { this.term.write(keys) }
  async see (text: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.text.includes(text), { timeoutMs, what: `${JSON.stringify(text)} on the terminal (it shows ${JSON.stringify(this.text.slice(-200))})` })
  }

  async exited (): Promise<number> { return await waitFor(() => this.exit, { what: 'attach to exit' }) }
  kill (): void { if (this.exit === undefined) this.term.kill('SIGKILL') }
}
