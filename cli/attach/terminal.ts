import { once } from 'node:events'
import { CTRL_C, DETACH_HINT, DetachScanner } from './keys.js'
import type { AttachEndState, AttachFrame, AttachRefusalCode, AttachSessionLike, TerminalSize } from '../../protocols/attach/index.js'

/**
 * The local side of `cit-node attach JOB [--rw]`: the terminal in raw mode while attached,
 * the job's output to stdout, keys to the job (rw), resizes (rw), and the detach sequence.
 * Streams and the size source are parameters so a test can drive it through a real pty.
 * (Runtime imports stay within cli/attach/: the test runs this file in a child process.)
 */

/** the local terminal */
export interface TerminalIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean, isRaw?: boolean, setRawMode?: (mode: boolean) => unknown }
  stdout: NodeJS.WritableStream
  /** where the `cit:` notices go */
  stderr: NodeJS.WritableStream
  /** the terminal's size now; undefined when there is no terminal */
  size: () => TerminalSize | undefined
  /** call `listener` when the size changes (SIGWINCH); returns a function that stops it */
  onResize: (listener: () => void) => () => void
}

export interface AttachTerminalOptions {
  /** the job's id or name, for the notices */
  job: string
  /** aborting detaches (wire SIGTERM and SIGHUP to it) */
  signal?: AbortSignal
  /** resizes closer together than this are sent as one (default 50 ms) */
  resizeDebounceMs?: number
}

export interface AttachTerminalResult {
  how: 'detached' | 'ended'
  /** 0 after a detach or when the job succeeded, 1 when it ended otherwise */
  exitCode: number
  /** the job's final state, when it ended while attached */
  end?: AttachEndState
}

const REFUSALS: Record<AttachRefusalCode, string> = {
  ERR_READ_ONLY: 'the session is read-only',
  ERR_RATE_LIMITED: 'typed faster than the node accepts',
  ERR_NO_TERMINAL: 'no command of the job is running at this moment',
  ERR_NOT_RUNNING: 'the job is not running any more',
  ERR_INVALID_SIZE: 'the terminal size is out of range'
}

/** The process's own terminal: stdin, stdout, stderr, and the size of whichever is a TTY. */
export function processTerminalIO (): TerminalIO {
  const tty = process.stdout.isTTY ? process.stdout : process.stderr.isTTY ? process.stderr : undefined
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    size: () => {
      if (tty == null) return undefined
      const [cols, rows] = tty.getWindowSize()
      return { cols, rows }
    },
    onResize: (listener) => {
      // node's tty stream emits 'resize' on SIGWINCH after it has read the new size
      tty?.on('resize', listener)
      return () => { tty?.off('resize', listener) }
    }
  }
}

/** the one-line text of a final state: `failed (exit 3): step "make" of stage "build" exited with 3` */
export function describeEnd (end: AttachEndState): string {
  const exit = end.exitCode != null ? ` (exit ${end.exitCode})` : ''
  return `${end.state}${exit}${end.reason != null ? `: ${end.reason}` : ''}`
}

/**
 * Attach the local terminal to an open session until the user detaches or the job ends.
 * The terminal's mode is restored on every way out, errors included (they are rethrown: the
 * session's typed errors, e.g. ERR_CLOSED, ERR_TIMEOUT).
 */
export async function runAttachTerminal (session: AttachSessionLike, io: TerminalIO, options: AttachTerminalOptions): Promise<AttachTerminalResult> {
  const rw = session.mode === 'rw'
  const notice = (text: string): void => { io.stderr.write(`\r\ncit: ${text}\r\n`) }
  notice(`attached to ${options.job} (${rw ? 'read-write: keys go to the job' : 'read-only'}); detach with ${DETACH_HINT}`)
  const restore = enterRawMode(io.stdin)
  const cleanups: Array<() => void> = []
  let detaching: Promise<void> | undefined
  const detach = (): void => {
    detaching ??= session.detach().catch(() => {})
  }
  try {
    if (options.signal != null) {
      const signal = options.signal
      if (signal.aborted) detach()
      signal.addEventListener('abort', detach, { once: true })
      cleanups.push(() => { signal.removeEventListener('abort', detach) })
    }
    cleanups.push(forwardKeys(session, io, detach, notice))
    if (rw) cleanups.push(forwardResizes(session, io, options.resizeDebounceMs ?? 50))
    const end = await showOutput(session.output, io, notice)
    await detaching
    for (const undo of cleanups.splice(0)) undo()
    restore()
    // an end that arrived while detaching still counts: the job is over
    if (end === undefined) {
      notice(`detached from ${options.job}; it keeps running`)
      return { how: 'detached', exitCode: 0 }
    }
    notice(`job ${options.job} ended: ${describeEnd(end)}`)
    return { how: 'ended', exitCode: end.state === 'succeeded' ? 0 : 1, end }
  } finally {
    for (const undo of cleanups) undo()
    restore()
  }
}

/** raw mode on a TTY; the returned function restores the previous mode (idempotent, also on process exit) */
function enterRawMode (stdin: TerminalIO['stdin']): () => void {
  if (stdin.isTTY !== true || typeof stdin.setRawMode !== 'function') return () => {}
  const wasRaw = stdin.isRaw === true
  stdin.setRawMode(true)
  let restored = false
  const restore = (): void => {
    if (restored) return
    restored = true
    process.off('exit', restore)
    stdin.setRawMode?.(wasRaw)
  }
  // a process.exit() elsewhere must not leave the user's terminal raw
  process.on('exit', restore)
  return restore
}

/** write the job's output; returns the end state, or undefined when the session ended by a detach */
async function showOutput (output: AsyncIterable<AttachFrame>, io: TerminalIO, notice: (text: string) => void): Promise<AttachEndState | undefined> {
  const said = new Set<string>()
  let atLineStart = true
  const write = async (data: Uint8Array | string): Promise<void> => {
    if (!io.stdout.write(data)) await once(io.stdout, 'drain')
  }
  for await (const frame of output) {
    switch (frame.type) {
      case 'output':
        await write(frame.data)
        atLineStart = frame.data.at(-1) === 0x0a
        break
      case 'resync':
        // in the output stream, so it sits exactly where the skipped part was
        await write(`\r\n\x1b[0m[cit: this terminal fell behind: ${frame.dropped} bytes skipped, the latest output follows]\r\n`)
        atLineStart = true
        break
      case 'refused':
        if (!said.has(frame.code)) notice(`${frame.what === 'input' ? 'keys' : 'resize'} not delivered: ${REFUSALS[frame.code] ?? frame.code}`)
        said.add(frame.code)
        break
      case 'resize':
        break
      case 'end': {
        if (!atLineStart) await write('\r\n')
        const { type: _type, ...end } = frame
        return end
      }
    }
  }
  return undefined
}

/** keys from stdin: the detach sequence is caught here, the rest goes to the job (rw) */
function forwardKeys (session: AttachSessionLike, io: TerminalIO, detach: () => void, notice: (text: string) => void): () => void {
  const rw = session.mode === 'rw'
  const scanner = new DetachScanner()
  // the write in flight, if any: keys typed meanwhile go after it; a key typed when none is goes at once
  let sending: Promise<void> | undefined
  const send = (bytes: Uint8Array): void => {
    const write = async (): Promise<void> => { await session.write(bytes) }
    // after the end or a detach keys have nowhere to go
    const done = (sending === undefined ? write() : sending.then(write)).catch(() => {})
    sending = done
    void done.then(() => { if (sending === done) sending = undefined })
  }
  let hinted = false
  const onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    const { forward, detach: wanted } = scanner.feed(bytes)
    if (rw && forward.byteLength > 0) {
      send(forward)
    } else if (!rw && forward.includes(CTRL_C)) {
      return detach()
    } else if (!rw && forward.byteLength > 0 && !hinted) {
      hinted = true
      notice(`read-only: keys are not sent to the job; detach with ${DETACH_HINT}`)
    }
    if (wanted) detach()
  }
  io.stdin.on('data', onData)
  io.stdin.resume()
  return () => {
    io.stdin.off('data', onData)
    io.stdin.pause()
  }
}

/** the local terminal's size changes, sent to the job (rw), debounced */
function forwardResizes (session: AttachSessionLike, io: TerminalIO, debounceMs: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined
  const send = (): void => {
    timer = undefined
    const size = io.size()
    if (size != null) session.resize(size.cols, size.rows).catch(() => {})
  }
  const stop = io.onResize(() => {
    clearTimeout(timer)
    timer = setTimeout(send, debounceMs)
  })
  return () => {
    clearTimeout(timer)
    stop()
  }
}
