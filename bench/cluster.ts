import { closeSync, openSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createMeshHome, joinMeshHome } from '../node/mesh/enroll.js'
import { homePaths } from '../node/home.js'
import { Control } from './control.js'
import { freePort } from './ports.js'
import { isAlive, pollUntil, sleep } from './procs.js'
import { BENCH_LOAD_LIMIT, BENCH_MAX_OUTPUT_BYTES, JOIN_ATTEMPTS, JOIN_SPACING_MS, RATE_WINDOW_MS, DAEMON_START_TIMEOUT_MS, DAEMON_STOP_GRACE_MS, MEMORY_RESERVE_BYTES, START_PARALLEL } from './constants.js'
import type { ChildProcess } from 'node:child_process'
import type { Registry } from './procs.js'

/** the built CLI, beside this file's folder in dist/ */
export const CLI = resolve(import.meta.dirname, '../cli/main.js')

/** one daemon of the bench mesh */
export interface BenchNode {
  /** its label is nodeLabel(index) */
  index: number
  home: string
  pid: number
  peerId: string
  control: Control
  child: ChildProcess
}

/** the label that only the bench node `index` carries */
export function nodeLabel (index: number): string {
  return `bench-node-${index}`
}


/** bytes of memory the kernel says are available (MemAvailable) */
export function availableMemory (): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))
  return m == null ? Number.MAX_SAFE_INTEGER : Number(m[1]) * 1024
}

/**
 * A mesh of real `cit-node start` daemons on 127.0.0.1, each in a temp home. The first node
 * creates the mesh (what `init` does), the others join with an invite from it (what `join` does);
 * each daemon is a detached child whose pid the registry holds, so it is always killed.
 */
export class Cluster {
  readonly nodes: BenchNode[] = []
  /** joins that were refused and tried again */
  joinRetries = 0
  private readonly registry: Registry
  private readonly log: (line: string) => void
  private readonly signal?: AbortSignal
  private readonly nodeArgs: string[]
  private readonly env: Readonly<Record<string, string>>

  /** `init.nodeArgs` go to node before the CLI (e.g. `--cpu-prof`), and `init.env` into the environment, of every daemon */
  constructor (components: { registry: Registry, log: (line: string) => void }, init: { signal?: AbortSignal, nodeArgs?: string[], env?: Readonly<Record<string, string>> } = {}) {
    this.registry = components.registry
    this.log = components.log
    this.signal = init.signal
    this.nodeArgs = init.nodeArgs ?? []
    this.env = init.env ?? {}
  }

  get size (): number { return this.nodes.length }

  /**
   * Grow the mesh to `target` daemons, START_PARALLEL at a time. Every connection arrives from
   * 127.0.0.1; libp2p's default refused more than 5 inbound connections per second from one host
   * (`inboundConnectionThreshold`; nodes now take INBOUND_CONNECTIONS_PER_HOST_PER_S): joins and
   * starts stay paced, so a build with the old limit can be measured too, and a refused join is
   * tried again. Stops early, and says why, when memory runs short or a daemon fails to start:
   * the caller reports how many fit.
   */
  async grow (target: number): Promise<{ size: number, stoppedBecause?: string }> {
    if (this.nodes.length === 0 && target > 0) {
      this.nodes.push(await this.startDaemon(await this.enroll(0), 0))
    }
    while (this.nodes.length < target) {
      this.signal?.throwIfAborted()
      const batch = Math.min(START_PARALLEL, target - this.nodes.length)
      const free = availableMemory()
      if (free < MEMORY_RESERVE_BYTES + batch * 150 * 1024 ** 2) {
        return { size: this.nodes.length, stoppedBecause: `only ${Math.round(free / 1024 ** 2)} MiB of memory left` }
      }
      const homes: string[] = []
      try {
        for (let i = 0; i < batch; i++) homes.push(await this.joinPaced(this.nodes.length + i))
      } catch (err: any) {
        return { size: this.nodes.length, stoppedBecause: `joining failed: ${String(err?.message ?? err)}` }
      }
      await sleep(RATE_WINDOW_MS, this.signal)
      const first = this.nodes.length
      const results = await Promise.allSettled(homes.map(async (home, i) => await this.startDaemon(home, first + i)))
      // a node keeps the index its label was made with, even if a sibling failed to start
      for (const r of results) if (r.status === 'fulfilled') this.nodes.push(r.value)
      const failed = results.find(r => r.status === 'rejected')
      if (failed != null) {
        return { size: this.nodes.length, stoppedBecause: `a daemon failed to start: ${String((failed as PromiseRejectedResult).reason?.message ?? failed)}` }
      }
      await sleep(RATE_WINDOW_MS, this.signal)
    }
    return { size: this.nodes.length }
  }

  /** join one new home, spaced from the last join and retried after a refusal */
  private async joinPaced (index: number): Promise<string> {
    let last: unknown
    for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
      await sleep(attempt === 0 ? JOIN_SPACING_MS : RATE_WINDOW_MS * 2, this.signal)
      try {
        return await this.enroll(index)
      } catch (err) {
        this.signal?.throwIfAborted()
        last = err
        this.joinRetries++
      }
    }
    throw last
  }

  /**
   * A new home that created the mesh (index 0) or joined it with an invite from the first node.
   * Each node carries the label `bench-node-<index>`, so a job can ask for one node in particular.
   */
  private async enroll (index: number): Promise<string> {
    const home = this.registry.tempDir('cb-')
    if (index === 0) {
      await createMeshHome(home)
    } else {
      const { token } = await this.nodes[0].control.invite(['submit', 'build', 'read'])
      await joinMeshHome(home, token, { signal: this.signal })
    }
    const config = { listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`], labels: [nodeLabel(index)], loadLimit: BENCH_LOAD_LIMIT, limits: { maxOutputBytes: BENCH_MAX_OUTPUT_BYTES } }
    await writeFile(homePaths(home).config, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 })
    return home
  }

  private async startDaemon (home: string, index: number): Promise<BenchNode> {
    const outPath = join(home, 'daemon.out')
    const out = openSync(outPath, 'a', 0o600)
    let child: ChildProcess
    try {
      // detached: Ctrl-C reaches the bench alone, which then stops every daemon by its pid
      child = this.registry.spawn(`daemon ${home}`, process.execPath, [...this.nodeArgs, CLI, 'start', '--home', home], {
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...this.env, ...process.env, CIT_HOME: home }
      })
    } finally {
      closeSync(out)
    }
    const pid = child.pid!
    const control = new Control(homePaths(home).socket)
    const status = await pollUntil(async () => {
      if (!isAlive(pid) || child.exitCode != null) {
        throw new Error(`the daemon exited at start: ${readFileSync(outPath, 'utf8').trim().split('\n').slice(-3).join(' | ')}`)
      }
      return await control.status().catch(() => undefined)
    }, { timeoutMs: DAEMON_START_TIMEOUT_MS, intervalMs: 50, what: `the daemon in ${home}`, signal: this.signal }).catch(async err => {
      control.close()
      await this.registry.stop(pid, 1000)
      throw err
    })
    return { index, home, pid, peerId: status.peerId, control, child }
  }

  /**
   * Wait until every node sees every other as active (a load report within the peer table's
   * unreachable threshold: gossip reaches all), at most
   * `timeoutMs`. Returns how long it took, or how far it got.
   */
  async converge (timeoutMs: number): Promise<{ ok: boolean, ms: number, detail: string }> {
    const started = Date.now()
    const n = this.nodes.length
    let counts: number[] = []
    try {
      await pollUntil(async () => {
        counts = await Promise.all(this.nodes.map(async node => {
          const peers = await node.control.peers(this.signal)
          return peers.filter(p => p.state === 'active').length
        }))
        return Math.min(...counts) >= n
      }, { timeoutMs, intervalMs: 500, what: `${n} nodes to hear each other`, signal: this.signal })
      return { ok: true, ms: Date.now() - started, detail: `${n} nodes heard each other in ${Date.now() - started} ms` }
    } catch {
      this.signal?.throwIfAborted()
      const short = counts.map((c, i) => ({ c, i })).filter(x => x.c < n)
      const list = short.slice(0, 12).map(x => `node ${x.i}: ${x.c}`).join(', ')
      return { ok: false, ms: Date.now() - started, detail: `after ${timeoutMs / 1000} s, ${short.length} of ${n} nodes still heard fewer than all ${n} (${list}${short.length > 12 ? ', …' : ''})` }
    }
  }

  /** stop every daemon (SIGTERM, SIGKILL after a grace period) and remove the homes */
  async stop (): Promise<void> {
    const nodes = this.nodes.splice(0)
    await Promise.all(nodes.map(async node => {
      node.control.close()
      await this.registry.stop(node.pid, DAEMON_STOP_GRACE_MS)
      try { this.registry.removeDir(node.home) } catch {}
    }))
    if (nodes.length > 0) this.log(`stopped ${nodes.length} daemon(s)`)
  }
}
