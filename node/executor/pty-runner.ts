/**
 * One command in its own pseudo-terminal. node-pty forks with forkpty(3): the child leads a new
 * session whose controlling terminal is the pty, so its pid is also its process group id.
 *
 * The tail of the output is protected against libuv's end-of-file guess (see WRAPPER_SCRIPT):
 * this side holds a slave descriptor open, so the master never reports POLLHUP while the step
 * runs, and lets go of it once STEP_END_SENTINEL arrives, which the wrapper prints after the
 * step's shell has exited; everything before it has been read by then.
 */
import { closeSync, constants as fsConstants, openSync, writeSync } from 'node:fs'
import { Socket } from 'node:net'
import { STEP_END_SENTINEL } from './constants.js'
import type { IPty } from 'node-pty'

type NodePty = typeof import('node-pty')
let nodePty: NodePty | undefined

const SENTINEL = Buffer.from(STEP_END_SENTINEL, 'latin1')

/** bytes a pty read may bring at most (a read is a few KiB: the terminal's line discipline holds 4 KiB) */
const READ_BUFFER_BYTES = 64 * 1024
/** every command's pty is read into this one buffer, each read passed on before the next one comes */
let readBuffer: Buffer | undefined

/** where a net.Socket keeps its `onread` option's buffer and callback */
interface UserBufferKeys { buffer: symbol, callback: symbol }
let userBufferKeys: UserBufferKeys | null | undefined

/**
 * The keys of net.Socket's `onread` option, found on a socket made with it: Node does not export
 * them. null when they cannot be told apart (then node-pty reads as it does by itself).
 */
function findUserBufferKeys (): UserBufferKeys | null {
  const buffer = Buffer.alloc(1)
  const callback = (): void => {}
  // (the option is documented for net.Socket, though the typings know it only for connect())
  const probe = new Socket({ onread: { buffer, callback } } as unknown as ConstructorParameters<typeof Socket>[0])
  let keys: Partial<UserBufferKeys> = {}
  for (const key of Object.getOwnPropertySymbols(probe)) {
    const value = (probe as unknown as Record<symbol, unknown>)[key]
    if (value === buffer) keys = { ...keys, buffer: key }
    else if (value === callback) keys = { ...keys, callback: key }
  }
  probe.destroy()
  return keys.buffer !== undefined && keys.callback !== undefined ? { buffer: keys.buffer, callback: keys.callback } : null
}

/** node-pty's reader of the master: a tty.ReadStream, a net.Socket */
interface PtySocket {
  _handle?: { reading?: boolean, useUserBuffer?: (buffer: Uint8Array) => void }
}

/** how a command ended */
export interface ExitStatus {
  /** the exit status, or 128 + the signal number when a signal ended the process (as shells report it) */
  exitCode: number
  /** the signal that ended the process, if one did */
  signal?: number
}

/** what to run, where, and where its output goes */
export interface PtyCommandInit {
  file: string
  args: string[]
  cwd: string
  env: Record<string, string>
  cols: number
  rows: number
  /** raw bytes as the pty delivers them, the sentinel taken out; valid only during the call (the read buffer is reused) */
  onData: (data: Buffer) => void
  /**
   * the command is a launcher started ahead of its step (`--hold`), which prints this once it
   * waits for its go line and again once it has read it and put its terminal back: taken out of
   * the output (those two times only); go() writes the line, and keys wait for the second one
   */
  ready?: string
}

/**
 * node-pty's insides used to write keys at once: the master's descriptor (non-blocking, as
 * node-pty opens it) and the queue of its own writer, which goes through libuv's thread pool
 */
interface PtyInternals {
  _fd?: unknown
  _writeStream?: { _writeQueue?: unknown }
}

/** how many bytes at the end of `buf` could be the start of the sentinel (or of `marker`) */
export function sentinelPrefixAtEnd (buf: Buffer, marker: Buffer = SENTINEL): number {
  const from = Math.max(0, buf.length - marker.length + 1)
  for (let i = buf.indexOf(marker[0], from); i >= 0; i = buf.indexOf(marker[0], i + 1)) {
    if (marker.subarray(0, buf.length - i).equals(buf.subarray(i))) return buf.length - i
  }
  return 0
}

/** One running command in a pty of its own (after `await PtyCommand.load()`). */
export class PtyCommand {
  /** loads node-pty (a native module): a daemon does so for its first job, not at its start */
  static async load (): Promise<void> {
    nodePty ??= await import('node-pty')
  }

  readonly pid: number
  /** resolves when the process has exited and the pty has been read to its end */
  readonly exited: Promise<ExitStatus>
  /** a held launch: true once the launcher waits for its go line, false when it ended before */
  readonly ready: Promise<boolean>
  private readonly term: IPty
  private readyMarker: Buffer | undefined
  private onReady: ((ready: boolean) => void) | undefined
  /** a held launcher's markers still to come (2, 1, 0) */
  private markersDue = 0
  /** keys written before a held launcher said it was let go: they would be read as its go line */
  private heldKeys: Buffer[] | undefined
  private readonly onData: (data: Buffer) => void
  private slaveFd: number | undefined
  private carry: Buffer | undefined
  private done = false

  /** starts the command at once, in this turn of the event loop */
  constructor (init: PtyCommandInit) {
    if (nodePty === undefined) throw new Error('PtyCommand.load() must finish before a command starts')
    this.onData = init.onData
    this.readyMarker = init.ready === undefined ? undefined : Buffer.from(init.ready, 'latin1')
    if (this.readyMarker !== undefined) {
      this.markersDue = 2
      this.heldKeys = []
    }
    this.ready = this.readyMarker === undefined ? Promise.resolve(true) : new Promise(resolve => { this.onReady = resolve })
    this.term = nodePty.spawn(init.file, init.args, {
      name: init.env.TERM,
      cols: init.cols,
      rows: init.rows,
      cwd: init.cwd,
      env: init.env,
      // raw Buffers: the caller counts bytes and decodes UTF-8 itself, never splitting a character
      encoding: null
    })
    this.pid = this.term.pid
    const ptsName = (this.term as unknown as { ptsName?: string }).ptsName
    try {
      // O_NOCTTY: never let the pty become the daemon's controlling terminal
      if (ptsName !== undefined) this.slaveFd = openSync(ptsName, fsConstants.O_RDWR | fsConstants.O_NOCTTY)
    } catch {
      // without it the tail of a fast step's output may be cut short, nothing worse
    }
    // with `encoding: null` node-pty hands out Buffers although its typings say string
    if (!this.readIntoSharedBuffer()) this.term.onData(data => { this.scan(data as unknown as Buffer) })
    this.exited = new Promise(resolve => {
      this.term.onExit(({ exitCode, signal }) => {
        this.done = true
        if (this.carry !== undefined) this.onData(this.carry)
        this.carry = undefined
        this.onReady?.(false)
        this.onReady = undefined
        this.readyMarker = undefined
        this.heldKeys = undefined
        this.releaseSlave()
        resolve(signal !== undefined && signal > 0 ? { exitCode: 128 + signal, signal } : { exitCode })
      })
    })
  }

  /**
   * Have node-pty's socket read the master into the shared buffer, as net.Socket's `onread` option
   * does, instead of into a fresh ArrayBuffer per read: V8 counts the external bytes allocated
   * since its last mark-compact against its heap limit, so a flood of reads made the whole heap be
   * marked every second or so. The socket is node-pty's own (its end of file, EIO and close, and
   * pause and resume, are handled as before); only where a read lands changes. It has not started
   * reading yet: it does on the next tick. False when this Node.js does not allow it.
   */
  private readIntoSharedBuffer (): boolean {
    userBufferKeys ??= findUserBufferKeys()
    const keys = userBufferKeys
    const socket = (this.term as unknown as { _socket?: PtySocket })._socket
    const handle = socket?._handle
    if (keys === null || socket === undefined || handle === undefined || typeof handle.useUserBuffer !== 'function' || handle.reading === true) return false
    const slots = socket as unknown as Record<symbol, unknown>
    if (slots[keys.buffer] != null) return false
    readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES)
    slots[keys.buffer] = readBuffer
    // the read's bytes are passed on at once: what is kept of them is copied (scan, recorder, scrollback)
    slots[keys.callback] = (bytes: number, buffer: Buffer): void => { this.scan(buffer.subarray(0, bytes)) }
    handle.useUserBuffer(readBuffer)
    return true
  }

  /** pass output on, taking out the ready marker and the sentinel (which may arrive split across reads) */
  private scan (chunk: Buffer): void {
    let buf = this.carry === undefined ? chunk : Buffer.concat([this.carry, chunk])
    this.carry = undefined
    const marker = this.readyMarker
    if (marker !== undefined) {
      const at = buf.indexOf(marker)
      if (at < 0) {
        const keep = sentinelPrefixAtEnd(buf, marker)
        if (keep > 0) this.carry = Buffer.from(buf.subarray(buf.length - keep))
        if (buf.length > keep) this.onData(buf.subarray(0, buf.length - keep))
        return
      }
      if (at > 0) this.onData(buf.subarray(0, at))
      buf = buf.subarray(at + marker.length)
      if (--this.markersDue === 1) {
        this.onReady?.(true)
        this.onReady = undefined
        // the rest may hold the second marker already
        if (buf.length > 0) this.scan(buf)
        return
      }
      this.readyMarker = undefined
      const keys = this.heldKeys ?? []
      this.heldKeys = undefined
      for (const key of keys) this.send(key)
    }
    for (let at = buf.indexOf(SENTINEL); at >= 0; at = buf.indexOf(SENTINEL)) {
      if (at > 0) this.onData(buf.subarray(0, at))
      buf = buf.subarray(at + SENTINEL.length)
      this.releaseSlave()
    }
    const keep = sentinelPrefixAtEnd(buf)
    if (keep > 0) this.carry = Buffer.from(buf.subarray(buf.length - keep))
    if (buf.length > keep) this.onData(buf.subarray(0, buf.length - keep))
  }

  private releaseSlave (): void {
    if (this.slaveFd === undefined) return
    try {
      closeSync(this.slaveFd)
    } catch {}
    this.slaveFd = undefined
  }

  get running (): boolean {
    return !this.done
  }

  /**
   * Let a held launcher go on: `line` is written to its terminal once it has said it waits (never
   * before: its terminal echoes until then). Nothing is written to one that has ended.
   */
  go (line: string): void {
    void this.ready.then(ready => { if (ready) this.send(Buffer.from(line, 'latin1')) })
  }

  /**
   * Send keys to the terminal (attach --rw). They are written at once when node-pty's own
   * writer has nothing queued: its writes go through the thread pool, a hand-off to another
   * thread and back for every keystroke, which a loaded machine turns into milliseconds. The
   * master is non-blocking, so this never waits: what the pty does not take now (its input
   * buffer is full) goes to node-pty's writer, which retries in order.
   */
  write (data: string | Buffer): void {
    if (this.done) return
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    if (this.heldKeys !== undefined) this.heldKeys.push(Buffer.from(bytes))
    else this.send(bytes)
  }

  /** write to the terminal now */
  private send (data: Buffer): void {
    if (this.done) return
    let rest = data
    const inner = this.term as unknown as PtyInternals
    const queue = inner._writeStream?._writeQueue
    if (typeof inner._fd === 'number' && Array.isArray(queue) && queue.length === 0) {
      try {
        rest = rest.subarray(writeSync(inner._fd, rest))
      } catch {
        // EAGAIN (the pty's input buffer is full) or another failure: node-pty's writer retries or reports it
      }
    }
    if (rest.byteLength > 0) this.term.write(rest)
  }

  /** resize the terminal; the foreground process gets SIGWINCH */
  resize (cols: number, rows: number): void {
    if (this.done) return
    try {
      this.term.resize(cols, rows)
    } catch {
      // the pty closed between the check and the call
    }
  }

  /** stop reading output (backpressure: the writer blocks once the pty buffer fills) */
  pause (): void {
    if (!this.done) this.term.pause()
  }

  resume (): void {
    if (!this.done) this.term.resume()
  }

  /**
   * SIGKILL to the command's own process, and to its group: a launcher killed moments after it
   * was forked may not lead its group yet (node-pty's child calls setsid after the fork returns)
   */
  kill (): void {
    if (this.done) return
    try {
      process.kill(this.pid, 'SIGKILL')
    } catch {}
    this.signalGroup('SIGKILL')
  }

  /** signal the command's whole process group (the step and everything it started in it) */
  signalGroup (signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal)
    } catch {}
  }
}
