import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, cli, killAllDaemons, startDaemon, tempHome, waitFor } from '../helpers/cli.js'

describe('cit-node events', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterAll(async () => {
    await killAllDaemons()
    for (const c of cleanups.reverse()) await c()
  })

  it('prints every job record as NDJSON with a cursor; --after resumes; --follow prints what comes later', async () => {
    const t = await tempHome('cit-te-')
    cleanups.push(t.cleanup)
    await startDaemon(t.dir)
    const home = { home: t.dir }
    const job = join(t.dir, 'job.yaml')
    await writeFile(job, 'name: ev\nstages:\n  - title: s\n    steps:\n      - { title: t, command: \'exit 3\' }\n')
    const first = JSON.parse((await cli(['submit', job, '--wait', '--json'], home)).stdout)
    const lines = (await cli(['events', '--json'], home)).stdout.trim().split('\n').map(l => JSON.parse(l))
    const mine = lines.filter(l => l.job === first.id)
    expect(mine.map(l => l.type)).toEqual(['submitted', 'started', 'finished'])
    expect(mine[0]).toMatchObject({ name: 'ev', build: 1 })
    expect(mine[2].result).toMatchObject({ state: 'failed', exitCode: 3 })
    expect(mine.every((l, i) => i === 0 || l.cursor > mine[i - 1].cursor)).toBe(true)
    const last = lines[lines.length - 1].cursor
    expect((await cli(['events', '--json', '--after', String(last)], home)).stdout.trim()).toBe('')

    // --follow: a later job's records arrive on the running command's output
    const follower = spawn(process.execPath, [CLI, 'events', '--follow', '--json', '--after', String(last)], { env: { ...process.env, CIT_HOME: t.dir }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    follower.stdout.on('data', (d: Buffer) => { out += d.toString() })
    try {
      const second = JSON.parse((await cli(['submit', job, '--wait', '--json'], home)).stdout)
      await waitFor(() => out.includes(`"job":"${String(second.id)}","node"`) && out.includes('"type":"finished"'), { timeoutMs: 30_000, what: 'the followed records' })
      const followed = out.trim().split('\n').map(l => JSON.parse(l))
      expect(followed.every(l => l.cursor > last)).toBe(true)
      expect(followed.find(l => l.type === 'submitted')).toMatchObject({ job: second.id, build: 2 })
    } finally {
      follower.kill('SIGTERM')
    }
    expect((await cli(['events', '--after', '-1'], home)).code).toBe(2)
  }, 120_000)
})
