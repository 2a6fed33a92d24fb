/**
 * sandbox_job_p50_ms: what the job sandbox costs a job. A one-step job (`true`) run by the
 * executor in this process, in a sandbox (build user, bubblewrap holder, nsenter and setpriv per
 * step), against the same job run by the same executor without one, interleaved so that both
 * see the same load.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Executor } from '../../node/executor/index.js'
import { Sandbox } from '../../node/executor/sandbox/index.js'
import { FsBlobStore } from '../../store/blobs/fs-blob-store.js'
import { figure, quantile, sortedCopy, unmeasured } from '../stats.js'
import type { Figure } from '../stats.js'
import type { Plan } from '../constants.js'
import type { JobSpec } from '../../protocols/job/types.js'

const SPEC: JobSpec = {
  name: 'bench-sandbox',
  priority: 0,
  timeoutMs: 60_000,
  requires: { labels: [], cores: 1, memoryBytes: 0 },
  params: {},
  supersede: 'waiting',
  cache: false,
  stages: [{ title: 'only', steps: [{ title: 'true', command: 'true', ignoreExitCode: false }] }],
  artefacts: []
}

export async function sandboxFigure (ctx: { plan: Plan, log: (line: string) => void, signal: AbortSignal }): Promise<Record<string, Figure>> {
  const dir = await mkdtemp(join(tmpdir(), 'cit-bench-sbx-'))
  const blobs = new FsBlobStore({}, { dir: join(dir, 'blobs') })
  await blobs.start()
  try {
    const workspacesDir = join(dir, 'workspaces')
    const sandbox = new Sandbox({}, { home: dir, scratchDir: join(workspacesDir, '.tmp') })
    await sandbox.start()
    if (sandbox.isolation !== 'sandbox') return { sandbox_job_p50_ms: unmeasured('ms', `no sandbox on this machine: ${sandbox.detail}`) }
    const boxed = new Executor({ blobs, sandbox }, { workspacesDir })
    const plain = new Executor({ blobs }, { workspacesDir: join(dir, 'plain') })
    const time = async (executor: Executor, i: number): Promise<number> => {
      ctx.signal.throwIfAborted()
      const started = performance.now()
      const r = await executor.run({ jobId: `bench-${i}`, spec: SPEC, params: {}, signal: ctx.signal })
      if (r.outcome !== 'succeeded') throw new Error(`a bench job ${r.outcome}: ${String(r.reason)}`)
      return performance.now() - started
    }
    const withBox: number[] = []
    const without: number[] = []
    // the first of each warms up (workspace creation and hand-over, cgroup detection)
    await time(boxed, -1)
    await time(plain, -2)
    for (let i = 0; i < ctx.plan.sandboxRuns; i++) {
      withBox.push(await time(boxed, 2 * i))
      without.push(await time(plain, 2 * i + 1))
    }
    const p50 = quantile(sortedCopy(withBox), 0.5)
    const base = quantile(sortedCopy(without), 0.5)
    ctx.log(`sandbox: ${p50.toFixed(0)} ms per job in a sandbox, ${base.toFixed(0)} ms without`)
    return {
      sandbox_job_p50_ms: figure({
        value: p50,
        unit: 'ms',
        baseline: base,
        n: withBox.length,
        note: `a one-step job (\`true\`), start to stored result, through the executor in one process; ${sandbox.detail}; baseline: the same job without a sandbox, runs interleaved`
      })
    }
  } finally {
    await blobs.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
