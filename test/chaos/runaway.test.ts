import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlClient } from '../../cli/client.js'
import { cli, startDaemon, tempHome } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'
import { report } from '../fuzz/harness.js'
import { spec } from './helpers.js'
import type { Daemon } from '../helpers/cli.js'

const MAX_PROCESSES = 64
const MAX_OUTPUT = 1024 * 1024
const MAX_MEMORY = 128 * 1024 * 1024
/** `status` must answer within this while the runaway jobs run (2 cores, all of them busy) */
const STATUS_BOUND_MS = 2000

/** processes whose command line holds `marker` */
async function processesWith (marker: string): Promise<number[]> {
  const pids: number[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')
    if (cmd.includes(marker)) pids.push(Number(name))
  }
  return pids
}

/** the pids cgroups (v1) of this daemon's runs: `cit-<daemon pid>-*`, wherever its own group is */
async function runGroups (daemonPid: number): Promise<string[]> {
  const root = '/sys/fs/cgroup/pids'
  const out: string[] = []
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 6) return
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory()) continue
      if (e.name.startsWith(`cit-${daemonPid}-`)) out.push(join(dir, e.name))
      else await walk(join(dir, e.name), depth + 1)
    }
  }
  await walk(root, 0)
  return out
}

describe('runaway jobs are contained by limits and timeouts; the node stays responsive', () => {
  let t: { dir: string, cleanup: () => Promise<void> }
  let daemon: Daemon
  let api: ControlClient

  beforeAll(async () => {
    t = await tempHome('cit-runaway-')
    await writeFile(join(t.dir, 'config.json'), JSON.stringify({
      loadLimit: 1000,
      slots: 6,
      limits: { maxProcesses: MAX_PROCESSES, maxOutputBytes: MAX_OUTPUT, maxMemoryBytes: MAX_MEMORY }
    }))
    daemon = await startDaemon(t.dir)
    api = new ControlClient(join(t.dir, 'control.sock'), t.dir)
  }, 60_000)

  afterAll(async () => {
    await daemon?.kill('SIGKILL')
    // whatever a job left behind dies with the test
    for (const m of ['cit-runaway-']) for (const pid of await processesWith(m)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    await t?.cleanup()
  })

  it('a fork bomb, an endless loop, endless output, a memory hog and a job that ignores SIGTERM', async () => {
    const jobs: Record<string, string> = {
      'fork-bomb': `timeout: 4s\nstages:\n  - steps:\n      - 'bomb() { bomb | bomb & }; bomb; sleep 600 # cit-runaway-bomb'\n`,
      'endless-loop': `timeout: 3s\nstages:\n  - steps:\n      - 'while :; do :; done # cit-runaway-loop'\n`,
      'endless-output': `timeout: 60s\nstages:\n  - steps:\n      - 'yes cit-runaway-output'\n`,
      'memory-hog': `timeout: 30s\nstages:\n  - steps:\n      - 'head -c 1073741824 /dev/zero | tail # cit-runaway-memory'\n`,
      'ignores-sigterm': `timeout: 2s\nstages:\n  - steps:\n      - 'trap "" TERM; while :; do sleep 0.2; done # cit-runaway-term'\n`
    }
    const ids = new Map<string, string>()
    const t0 = Date.now()
    for (const [name, body] of Object.entries(jobs)) ids.set(name, (await api.submit({ spec: spec(`name: ${name}\n${body}`) })).id)

    // poll status while they run: every answer within the bound; watch the fork bomb's process count
    const latencies: number[] = []
    let maxPids = 0
    let forkRefusals = 0
    let cliStatusMs = 0
    const done = async (): Promise<boolean> => {
      const list = await api.list()
      return [...ids.values()].every(id => ['succeeded', 'failed', 'timed-out', 'cancelled'].includes(list.find(j => j.id === id)?.state ?? ''))
    }
    const sample = async (): Promise<void> => {
      const s0 = performance.now()
      await api.status()
      latencies.push(performance.now() - s0)
      for (const g of await runGroups(daemon.pid)) {
        maxPids = Math.max(maxPids, Number(await readFile(join(g, 'pids.current'), 'utf8').catch(() => '0')))
        const events = await readFile(join(g, 'pids.events'), 'utf8').catch(() => '')
        forkRefusals = Math.max(forkRefusals, Number(/max (\d+)/.exec(events)?.[1] ?? 0))
      }
      if (cliStatusMs === 0 && Date.now() - t0 > 1500) {
        // a whole CLI process too, as a person would run it
        const c0 = performance.now()
        expect((await cli(['status', '--json'], { home: t.dir, timeoutMs: 20_000 })).code).toBe(0)
        cliStatusMs = performance.now() - c0
      }
    }
    // a failed poll fails the test at once, as a throw inside waitFor would only count as "not yet"
    let failed: unknown
    await waitFor(async () => {
      try {
        if (await done()) return true
        await sample()
        return false
      } catch (err) {
        failed = err
        return true
      }
    }, { timeoutMs: 90_000, intervalMs: 100, what: 'the runaway jobs to end within 90 s' })
    if (failed != null) throw failed
    const views = Object.fromEntries(await Promise.all([...ids].map(async ([name, id]) => [name, await api.show(id)] as const)))
    latencies.sort((a, b) => a - b)
    const figures = {
      ms: Date.now() - t0,
      outcomes: Object.fromEntries(Object.entries(views).map(([n, v]) => [n, { state: v.state, reason: v.reason, wallMs: v.usage?.wallMs, maxRssBytes: v.usage?.maxRssBytes }])),
      forkBombPeakProcesses: maxPids,
      forkBombRefusedForks: forkRefusals,
      statusPolls: latencies.length,
      statusMedianMs: Math.round(latencies[Math.floor(latencies.length / 2)]),
      statusMaxMs: Math.round(latencies[latencies.length - 1]),
      cliStatusMs: Math.round(cliStatusMs)
    }
    report('runaway', figures)

    expect(views['fork-bomb'].state).toBe('timed-out')
    expect(maxPids).toBeLessThanOrEqual(MAX_PROCESSES)
    expect(views['endless-loop'].state).toBe('timed-out')
    expect(views['endless-output'].state).toBe('failed')
    expect(views['endless-output'].reason).toMatch(/output went over the limit/)
    expect(views['memory-hog'].state).toBe('failed')
    expect(views['memory-hog'].usage!.maxRssBytes).toBeLessThanOrEqual(MAX_MEMORY + 8 * 1024 * 1024)
    expect(views['ignores-sigterm'].state).toBe('timed-out')
    // SIGTERM ignored, so SIGKILL after the 3 s grace: it ended, a few seconds past its timeout
    expect(views['ignores-sigterm'].usage!.wallMs).toBeLessThan(2000 + 3000 + 5000)
    expect(figures.statusMaxMs).toBeLessThan(STATUS_BOUND_MS)

    // nothing they started outlives them, and their cgroups are gone
    await waitFor(async () => (await processesWith('cit-runaway-')).length === 0 ? true : undefined, { timeoutMs: 15_000, what: 'every runaway process to be gone' })
    await waitFor(async () => (await runGroups(daemon.pid)).length === 0 ? true : undefined, { timeoutMs: 15_000, what: 'the run cgroups to be removed' })
    // and the node runs the next job at once
    const next = await api.submit({ spec: spec('name: after-the-storm\nstages:\n  - steps:\n      - echo calm\n') })
    await waitFor(async () => (await api.show(next.id)).state === 'succeeded' ? true : undefined, { timeoutMs: 20_000, what: 'the next job to succeed' })
  }, 150_000)
})
