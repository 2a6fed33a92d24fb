/**
 * fetch_mb_per_s: an artefact produced on one node, fetched by `cit-node fetch` on another; the
 * baselines (scp over a loopback sshd, a raw TCP copy) are measured whether or not fetch works.
 */
import { randomBytes } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { CLI, nodeLabel } from '../cluster.js'
import { tcpCopy } from '../local.js'
import { oneStep } from '../jobspecs.js'
import { cpuSplitMs } from '../machine.js'
import { runCommand } from '../procs.js'
import { figure, unmeasured } from '../stats.js'
import { BIG_JOB_TIMEOUT_MS, JOB_TIMEOUT_MS } from '../constants.js'
import type { BenchNode } from '../cluster.js'
import type { Registry } from '../procs.js'
import type { LoopbackSsh } from '../ssh.js'
import type { Figure } from '../stats.js'
import type { SuiteContext } from './jobs.js'

/** size of the artefact that probes whether cross-node fetch works at all */
const PROBE_BYTES = 1024 * 1024

/** a file of `size` random bytes (incompressible, so no transport can cheat) */
async function payloadFile (path: string, size: number): Promise<void> {
  const fh = await open(path, 'w', 0o600)
  try {
    const chunk = randomBytes(16 * 1024 * 1024)
    for (let left = size; left > 0; left -= chunk.length) await fh.write(chunk, 0, Math.min(left, chunk.length))
  } finally {
    await fh.close()
  }
}

/** `cit-node fetch HASH -o DEST` on a node's home; resolves with MB/s or throws with the CLI's reason */
async function citFetch (registry: Registry, home: string, hash: string, dest: string, size: number, timeoutMs: number): Promise<number> {
  const r = await runCommand(registry, process.execPath, [CLI, 'fetch', hash, '-o', dest, '--home', home], { timeoutMs })
  if (r.code !== 0) throw new Error((r.stderr.trim().split('\n')[0] ?? '') || `exit ${String(r.code)}`)
  return size / 1e6 / (r.ms / 1000)
}

/** run a job and return the sha256 of its one artefact */
async function runPinned (ctx: SuiteContext, node: BenchNode, spec: unknown, timeoutMs: number): Promise<{ hash: string }> {
  const { id } = await node.control.submit(spec, ctx.signal)
  const view = await node.control.wait(id, AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]))
  const hash = view.artefacts?.[0]?.sha256
  if (view.state !== 'succeeded' || hash == null) throw new Error(`job ${String(id).slice(0, 12)} ended ${String(view.state)} without its artefact: ${String(view.reason ?? '')}`)
  return { hash }
}

export async function fetchFigure (ctx: SuiteContext & { registry: Registry, ssh: LoopbackSsh | string }): Promise<Figure> {
  const { cluster, plan, registry, ssh } = ctx
  const size = plan.fetchBytes
  const dir = registry.tempDir('cb-fetch-')
  const src = join(dir, 'payload.bin')
  const dest = join(dir, 'copy.bin')
  const sizeText = size >= 1024 ** 3 ? `${size / 1024 ** 3} GiB` : `${size / 1024 ** 2} MiB`
  try {
    await payloadFile(src, size)
    const tcp = await tcpCopy(src, dest, size)
    await rm(dest, { force: true })
    let scp: number | null = null
    let scpNote = typeof ssh === 'string' ? ssh : ''
    if (typeof ssh !== 'string') {
      try {
        scp = await ssh.scp(registry, src, dest, size)
      } catch (err: any) {
        scpNote = String(err?.message ?? err)
      }
      await rm(dest, { force: true })
    }
    const baselines = { scp, tcp }
    const baseNote = `baselines for ${sizeText}: scp (default cipher) to a loopback sshd${scp == null ? ` not measured (${scpNote})` : ''}, raw TCP copy ${tcp.toFixed(0)} MB/s`
    if (cluster.size < 2) return unmeasured('MB/s', `needs two nodes; ${baseNote}`, scp, { baselines })

    // does a blob held only by node 0 reach node 1 at all? (jobs pinned to node 0 by its label)
    const [a, b] = cluster.nodes
    const pin = { labels: [nodeLabel(a.index)] }
    const probeView = await runPinned(ctx, a, oneStep('bench-fetch-probe', `head -c ${PROBE_BYTES} /dev/urandom > probe.bin`, { ...pin, artefacts: ['probe.bin'] }), JOB_TIMEOUT_MS)
    try {
      await b.control.fetchBlob(probeView.hash, AbortSignal.any([ctx.signal, AbortSignal.timeout(JOB_TIMEOUT_MS)]))
    } catch (err: any) {
      return unmeasured('MB/s', `cross-node fetch has not landed: node 1's daemon said "${String(err?.message ?? err)}"; ${baseNote}`, scp, { baselines })
    }

    // the job makes its own random artefact: its sandbox cannot read the bench's temporary folder
    const view = await runPinned(ctx, a, oneStep('bench-fetch', `head -c ${size} /dev/urandom > big.bin`, { ...pin, artefacts: ['big.bin'] }), BIG_JOB_TIMEOUT_MS)
    // the daemons' own CPU time for the transfer: what the machine's load does not skew
    const cpu0 = [cpuSplitMs(a.pid), cpuSplitMs(b.pid)]
    const started = performance.now()
    const { result: got, progress } = await b.control.fetchBlob(view.hash, AbortSignal.any([ctx.signal, AbortSignal.timeout(BIG_JOB_TIMEOUT_MS)]))
    const ended = performance.now()
    const cpu1 = [cpuSplitMs(a.pid), cpuSplitMs(b.pid)]
    const perMb = (i: number): string => {
      const user = (cpu1[i].user - cpu0[i].user) / (size / 1e6)
      const system = (cpu1[i].system - cpu0[i].system) / (size / 1e6)
      return `${(user + system).toFixed(2)} ms (user ${user.toFixed(2)}, system ${system.toFixed(2)})`
    }
    const cpuNote = `; CPU per MB: holder ${perMb(0)}, fetcher ${perMb(1)}`
    const mbps = size / 1e6 / ((ended - started) / 1000)
    if (got.local || got.size !== size) throw new Error(`node 1 did not fetch the artefact (local ${String(got.local)}, size ${got.size})`)
    // progress lines come every 200 ms: the first with bytes and the first complete one bound the transfer
    const moving = progress.find(p => p.done > 0)
    const complete = progress.find(p => p.done >= size)
    const phases = moving != null && complete != null
      ? `; first progress with bytes after ${(moving.at - started).toFixed(0)} ms, all bytes in by ${(complete.at - started).toFixed(0)} ms, result at ${(ended - started).toFixed(0)} ms (progress every 200 ms)`
      : ''
    // the whole command as a person runs it, on a third node: mesh transfer, then a verified local copy
    let cli = 'not measured (fewer than 3 nodes)'
    if (cluster.size >= 3) cli = `${(await citFetch(registry, cluster.nodes[2].home, view.hash, dest, size, BIG_JOB_TIMEOUT_MS)).toFixed(0)} MB/s`
    const note = `${sizeText} artefact from node 0 into node 1's store (verified), asked through node 1's control API${phases}${cpuNote}; \`cit-node fetch -o FILE\` end to end on node 2 (the same, then a verified copy to FILE and fsync): ${cli}; ${baseNote}`
    return figure({ value: mbps, unit: 'MB/s', baseline: scp, n: 1, note, baselines })
  } finally {
    registry.removeDir(dir)
  }
}
