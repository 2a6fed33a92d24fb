/**
 * Baselines that need no daemon: the same commands in a bare node-pty, a raw TCP copy, an idle
 * bare node process. Each is what the corresponding cit-node figure is compared with.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { createServer, connect } from 'node:net'
import { pipeline } from 'node:stream/promises'
import * as pty from 'node-pty'
import { sortedCopy } from './stats.js'
import type { Registry } from './procs.js'

const SHELL = '/bin/sh'

/** one command in a fresh pty: ms to its first output byte, and ms to its exit */
async function ptyOnce (command: string, timeoutMs: number): Promise<{ firstMs: number | null, exitMs: number, bytes: number }> {
  const started = performance.now()
  let first: number | null = null
  let bytes = 0
  const term = pty.spawn(SHELL, ['-c', command], { name: 'xterm-256color', cols: 120, rows: 40, cwd: process.cwd(), env: process.env as Record<string, string>, encoding: null })
  term.onData(d => {
    if (first == null) first = performance.now() - started
    bytes += (d as unknown as Buffer).byteLength
  })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try { process.kill(term.pid, 'SIGKILL') } catch {}
      reject(new Error(`a bare pty running ${JSON.stringify(command.slice(0, 60))} did not exit within ${timeoutMs} ms`))
    }, timeoutMs)
    term.onExit(() => {
      clearTimeout(timer)
      resolve({ firstMs: first, exitMs: performance.now() - started, bytes })
    })
  })
}

/** ms from spawning `command` in a bare pty to its first output byte, `n` times (sorted) */
export async function ptyFirstOutput (command: string, n: number, signal?: AbortSignal): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    signal?.throwIfAborted()
    const r = await ptyOnce(command, 10_000)
    if (r.firstMs != null) samples.push(r.firstMs)
  }
  return sortedCopy(samples)
}

/** completed spawns per second of `command` in bare ptys, `concurrency` at a time */
export async function ptySpawnRate (command: string, count: number, concurrency: number, signal?: AbortSignal): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      signal?.throwIfAborted()
      next++
      await ptyOnce(command, 10_000)
    }
  }))
  return count / ((performance.now() - started) / 1000)
}

/**
 * MB/s (10^6 bytes) of `command`'s output through a bare pty; `payloadBytes` is what the command
 * prints. With `raw`, the pty's output processing is off (`stty -opost`), as the executor runs jobs.
 */
export async function ptyBulk (command: string, payloadBytes: number, raw: boolean, timeoutMs: number): Promise<{ mbPerS: number, bytes: number }> {
  const r = await ptyOnce(raw ? `stty -opost; ${command}` : command, timeoutMs)
  return { mbPerS: payloadBytes / 1e6 / (r.exitMs / 1000), bytes: r.bytes }
}

/** MB/s of copying `file` over one loopback TCP connection into `dest` (no encryption, no hashing) */
export async function tcpCopy (file: string, dest: string, size: number): Promise<number> {
  const server = createServer()
  const received = new Promise<void>((resolve, reject) => {
    server.once('connection', sock => { pipeline(sock, createWriteStream(dest)).then(resolve, reject) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const started = performance.now()
  try {
    const sock = connect(port, '127.0.0.1')
    await Promise.all([pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), sock), received])
  } finally {
    server.close()
  }
  return size / 1e6 / ((performance.now() - started) / 1000)
}

/** a bare node process that only keeps a timer: the floor of a Node.js daemon's idle RSS and CPU */
export function startBareNode (registry: Registry): number {
  const child = registry.spawn('bare node', process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' })
  return child.pid!
}
