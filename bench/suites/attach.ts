/**
 * attach_echo_p50_ms: a keystroke's round trip through `cit-node attach --rw` to a running job's
 * terminal and back, against the same through `ssh -tt` to a loopback sshd.
 */
import { EventEmitter } from 'node:events'
import * as pty from 'node-pty'
import { CLI, nodeLabel } from '../cluster.js'
import { oneStep } from '../jobspecs.js'
import { pollUntil, runCommand } from '../procs.js'
import { READY, echoSamples } from '../ssh.js'
import { figure, quantile, unmeasured } from '../stats.js'
import { JOB_TIMEOUT_MS } from '../constants.js'
import type { BenchNode } from '../cluster.js'
import type { Registry } from '../procs.js'
import type { LoopbackSsh } from '../ssh.js'
import type { Figure } from '../stats.js'
import type { SuiteContext } from './jobs.js'

/** `cit-node attach JOB --rw` in a pty of its own on `from`'s home: sorted key → echo samples */
async function attachFrom (ctx: SuiteContext & { registry: Registry }, from: BenchNode, id: string): Promise<number[]> {
  const term = pty.spawn(process.execPath, [CLI, 'attach', id, '--rw', '--home', from.home], {
    name: 'xterm-256color', cols: 120, rows: 40, cwd: process.cwd(), env: { ...process.env, CIT_HOME: from.home } as Record<string, string>
  })
  ctx.registry.track(term.pid, 'cit-node attach')
  const output = new EventEmitter()
  term.onData(d => { output.emit('data', d) })
  try {
    return await echoSamples(term, output, ctx.plan.echoSamples, ctx.signal)
  } finally {
    await ctx.registry.stop(term.pid, 2000)
  }
}

/**
 * A `cat` job (its terminal echoes what is typed, in canonical mode) submitted on node 1 and pinned
 * there, attached to from node 0 (the figure; node 0 is the mesh's admin, so it may type) and then
 * from node 1 itself, its submitter (to tell the mesh hop from the rest).
 */
async function attachSamples (ctx: SuiteContext & { registry: Registry }): Promise<{ remote: number[], local?: number[] }> {
  const { cluster } = ctx
  const node = cluster.nodes[0]
  const runner = cluster.size > 1 ? cluster.nodes[1] : node
  const { id } = await runner.control.submit(oneStep('bench-attach', `echo ${READY}; exec cat`, { timeout: '5m', labels: [nodeLabel(runner.index)] }), ctx.signal)
  try {
    await pollUntil(async () => (await node.control.show(id, ctx.signal)).state === 'running', { timeoutMs: JOB_TIMEOUT_MS, intervalMs: 20, what: 'the attach job to run', signal: ctx.signal })
    const remote = await attachFrom(ctx, node, id)
    const local = runner !== node ? await attachFrom(ctx, runner, id) : undefined
    return { remote, local }
  } finally {
    await runner.control.cancel(id).catch(() => {})
  }
}

export async function attachFigure (ctx: SuiteContext & { registry: Registry, ssh: LoopbackSsh | string }): Promise<Figure> {
  const { plan, registry, ssh } = ctx
  let baseline: number | null = null
  let baseNote: string
  if (typeof ssh === 'string') {
    baseNote = `ssh baseline not measured: ${ssh}`
  } else {
    try {
      baseline = quantile(await ssh.echo(registry, plan.echoSamples, ctx.signal), 0.5)
      baseNote = 'baseline: `ssh -tt` to a loopback sshd running `cat`, key → echo'
    } catch (err: any) {
      baseNote = `ssh baseline failed: ${String(err?.message ?? err)}`
    }
  }
  const help = await runCommand(registry, process.execPath, [CLI, 'attach', '--help'], { timeoutMs: 20_000 })
  if (help.code !== 0) {
    return unmeasured('ms', `\`cit-node attach\` has not landed (${(help.stderr.trim().split('\n')[0] ?? '') || `exit ${String(help.code)}`}); ${baseNote}`, baseline)
  }
  try {
    const { remote, local } = await attachSamples({ ...ctx, registry })
    const here = local != null ? `; attached on node 1 itself: p50 ${quantile(local, 0.5).toFixed(2)} ms` : ''
    const note = `\`cit-node attach --rw\` on node 0 to a \`cat\` job running on node 1, key → echo, p99 ${quantile(remote, 0.99).toFixed(2)} ms${here}; ${baseNote}`
    return figure({ value: quantile(remote, 0.5), unit: 'ms', baseline, n: remote.length, note })
  } catch (err: any) {
    ctx.signal.throwIfAborted()
    return unmeasured('ms', `attach did not echo: ${String(err?.message ?? err)}; ${baseNote}`, baseline)
  }
}
