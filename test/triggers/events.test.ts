import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, cli, killAllDaemons, startDaemon, tempHome, waitFor } from '../helpers/cli.js'
import { fakeForge } from './helpers.js'

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

describe('export to Elasticsearch', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterAll(async () => {
    await killAllDaemons()
    for (const c of cleanups.reverse()) await c()
  })

  it('finished jobs reach the bulk API under their job ids, batched, the first 502 retried', async () => {
    const es = await fakeForge({ failFirst: 1 })
    cleanups.push(es.close)
    const t = await tempHome('cit-tx-')
    cleanups.push(t.cleanup)
    await writeFile(join(t.dir, 'config.json'), JSON.stringify({ export: { elasticsearch: `${es.url}/es`, index: 'cit-jobs' } }))
    await startDaemon(t.dir)
    const home = { home: t.dir }
    const job = join(t.dir, 'job.yaml')
    await writeFile(job, 'name: shipped\nstages:\n  - title: s\n    steps:\n      - { title: t, command: \'true\' }\n')
    const ids: string[] = []
    for (let i = 0; i < 2; i++) ids.push(JSON.parse((await cli(['submit', job, '--wait', '--json'], home)).stdout).id)
    const docs = await waitFor(() => {
      const lines = es.posts.filter(p => p.path === '/api/v3/es/_bulk').flatMap(p => p.raw.trim().split('\n').map(l => JSON.parse(l)))
      const pairs = lines.flatMap((l, i) => i % 2 === 0 ? [{ meta: l.index, doc: lines[i + 1] }] : [])
      return ids.every(id => pairs.some(p => p.meta._id === id)) ? pairs : undefined
    }, { timeoutMs: 30_000, what: 'both jobs in the index' })
    for (const id of ids) {
      const d = docs.find(p => p.meta._id === id)!
      expect(d.meta._index).toBe('cit-jobs')
      expect(d.doc).toMatchObject({ job: id, name: 'shipped', state: 'succeeded', exitCode: 0 })
    }
    expect(es.posts.every(p => p.method === 'POST')).toBe(true)
    expect(es.attempts()).toBeGreaterThan(es.posts.length)
    const stats = JSON.parse((await cli(['repo', 'stats', '--json'], home)).stdout)
    expect(stats.export.shipped).toBe(2)
  }, 120_000)
})
