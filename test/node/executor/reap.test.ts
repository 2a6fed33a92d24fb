import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { detectCgroups } from '../../../node/executor/cgroup-detect.js'
import { alive, makeFixture, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'

const support = await detectCgroups()
const pidsParent = support.mode === 'v1' ? support.parents.pids : undefined

/** a pid that is not in use: that of a process that has exited */
async function deadPid (): Promise<number> {
  const child = spawn('true')
  await new Promise(resolve => child.on('exit', resolve))
  return child.pid!
}

describe('Executor: cgroups left by a daemon that died', () => {
  let fx: Fixture | undefined
  const started: number[] = []
  const groups: string[] = []
  afterEach(async () => {
    for (const pid of started.splice(0)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    for (const dir of groups.splice(0)) await rmdir(dir).catch(() => {})
    await fx?.cleanup()
    fx = undefined
  })

  async function orphanIn (name: string): Promise<{ dir: string, pid: number }> {
    const dir = join(pidsParent!, name)
    await mkdir(dir)
    groups.push(dir)
    const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' })
    started.push(sleeper.pid!)
    await writeFile(join(dir, 'cgroup.procs'), String(sleeper.pid))
    return { dir, pid: sleeper.pid! }
  }

  it.runIf(pidsParent !== undefined)('kills and removes them at the first run, and leaves live daemons\' groups alone', async () => {
    const dead = await orphanIn(`cit-${await deadPid()}-0123456789abcdef`)
    // a group whose owner is alive (here: this test process) belongs to a running daemon
    const live = await orphanIn(`cit-${process.pid}-fedcba9876543210`)
    fx = await makeFixture()
    const result = await fx.executor.run({ jobId: 'after-crash', spec: spec('reap', [stage('s', [['a', 'true']])]), params: {} })
    expect(result.outcome).toBe('succeeded')
    await waitFor(() => !alive(dead.pid), { timeoutMs: 5000, what: 'the orphan to die' })
    expect(existsSync(dead.dir)).toBe(false)
    expect(alive(live.pid)).toBe(true)
    expect(existsSync(live.dir)).toBe(true)
  })
})
