import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, json, killAllDaemons, startDaemon, tempHome, waitFor } from '../helpers/cli.js'
import { fakeForge } from './helpers.js'

describe('notifications of results', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterAll(async () => {
    await killAllDaemons()
    for (const c of cleanups.reverse()) await c()
  })

  it('success, failure, broken and fixed reach an http endpoint and a Matrix room, each once, and not again after a restart', async () => {
    // the room's server answers the first try with a 502: sent again, still one message
    const matrix = await fakeForge({ failFirst: 1 })
    cleanups.push(matrix.close)
    const hook = await fakeForge()
    cleanups.push(hook.close)
    const t = await tempHome('cit-tn-')
    cleanups.push(t.cleanup)
    await writeFile(join(t.dir, 'matrix.token'), 'mx-token\n')
    await writeFile(join(t.dir, 'config.json'), JSON.stringify({
      notify: [
        { on: ['failure'], matrix: { homeserver: matrix.url, room: '!room:example.org', tokenFile: join(t.dir, 'matrix.token') } },
        { on: ['success', 'failure', 'fixed', 'broken'], http: `${hook.url}/notify` }
      ]
    }))
    let daemon = await startDaemon(t.dir)
    const home = { home: t.dir }
    const job = join(t.dir, 'job.yaml')
    const run = async (exit: number): Promise<any> => {
      await writeFile(job, `name: notes\nstages:\n  - title: s\n    steps:\n      - { title: t, command: 'exit ${exit}' }\n`)
      const r = await cli(['submit', job, '--wait', '--json'], home)
      return JSON.parse(r.stdout)
    }
    const first = await run(0)
    const second = await run(4)
    const third = await run(0)
    expect([first.build, second.build, third.build]).toEqual([1, 2, 3])
    await waitFor(() => hook.posts.length >= 3, { timeoutMs: 30_000, what: 'three http notifications' })
    const byJob = (id: string): any => hook.posts.find(p => p.body.job === id)?.body
    expect(byJob(first.id)).toMatchObject({ name: 'notes', build: 1, state: 'succeeded', events: ['success'] })
    expect(byJob(second.id)).toMatchObject({ build: 2, state: 'failed', events: ['failure', 'broken'] })
    expect(byJob(third.id)).toMatchObject({ build: 3, state: 'succeeded', events: ['success', 'fixed'] })
    expect(byJob(second.id).reason).toContain('exited with 4')

    await waitFor(() => matrix.posts.length >= 1, { timeoutMs: 30_000, what: 'the Matrix message' })
    expect(matrix.attempts()).toBe(2)
    expect(matrix.posts).toHaveLength(1)
    const [msg] = matrix.posts
    expect(msg.method).toBe('PUT')
    expect(msg.path).toMatch(/^\/api\/v3\/_matrix\/client\/v3\/rooms\/!room%3Aexample\.org\/send\/m\.room\.message\/cit-[A-Za-z0-9-]+$/)
    expect(msg.authorization).toBe('Bearer mx-token')
    expect(msg.body).toMatchObject({ msgtype: 'm.text' })
    expect(msg.body.body).toContain('notes #2 failed: step "t" of stage "s" exited with 4')

    const stats = json(await cli(['repo', 'stats', '--json'], home))
    expect(stats.notifications).toMatchObject({ 'http-posted': 3, 'matrix-posted': 1 })
    // a restart sends nothing again
    await daemon.kill()
    daemon = await startDaemon(t.dir)
    // a deliberate fixed wait: proves the restarted daemon posts nothing again
    await new Promise(resolve => setTimeout(resolve, 1500))
    expect(hook.posts).toHaveLength(3)
    expect(matrix.posts).toHaveLength(1)
    await daemon.kill()

    // a broken rule is refused at start, by its path
    await writeFile(join(t.dir, 'config.json'), JSON.stringify({ notify: [{ on: ['sometimes'], http: 'ftp://x' }] }))
    const bad = await cli(['start'], { home: t.dir, timeoutMs: 20_000 })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('notify[0].on')
    expect(bad.stderr).toContain('notify[0].http')
  }, 180_000)

  it('notify in a job file posts to its URL (http only: a Matrix rule there is refused by its path)', async () => {
    const hook = await fakeForge()
    cleanups.push(hook.close)
    const t = await tempHome('cit-tj-')
    cleanups.push(t.cleanup)
    await startDaemon(t.dir)
    const home = { home: t.dir }
    const job = join(t.dir, 'job.yaml')
    await writeFile(job, `name: own\nnotify: { on: [failure], http: '${hook.url}/own' }\nstages:\n  - title: s\n    steps:\n      - { title: t, command: 'exit 1' }\n`)
    const failed = JSON.parse((await cli(['submit', job, '--wait', '--json'], home)).stdout)
    await waitFor(() => hook.posts.length >= 1, { timeoutMs: 30_000, what: 'the job file\'s notification' })
    expect(hook.posts[0].path).toBe('/api/v3/own')
    expect(hook.posts[0].body).toMatchObject({ job: failed.id, name: 'own', state: 'failed', events: ['failure'] })
    await writeFile(job, `name: own\nnotify: [ { on: [failure], matrix: { homeserver: 'https://m.example', room: '!r:m.example', tokenFile: '/etc/shadow' } } ]\nstages:\n  - title: s\n    steps:\n      - { title: t, command: 'true' }\n`)
    const refused = await cli(['submit', job], home)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('notify[0].matrix')
  }, 120_000)
})
