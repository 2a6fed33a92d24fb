import { readFile, writeFile, chmod, access } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, freePort, json, killAllDaemons, startDaemon, tempHome, waitFor } from '../helpers/cli.js'
import { http } from '../http/helpers.js'
import { fakeForge, jobFile, makeRepo, statesFor } from './helpers.js'

describe('git hook → job at the pushed commit → commit statuses on the forge', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterAll(async () => {
    await killAllDaemons()
    for (const c of cleanups.reverse()) await c()
  })

  it('a push to a bare repository with the hook installed builds that commit, posts pending then success (or failure, or error naming the problem); a push while the daemon is down is queued and built when it starts', async () => {
    const repo = await makeRepo()
    cleanups.push(repo.cleanup)
    // the forge's first answer is a 502: the status is posted again, once
    const forge = await fakeForge({ failFirst: 1 })
    cleanups.push(forge.close)
    const t = await tempHome('cit-th-')
    cleanups.push(t.cleanup)
    const port = await freePort()
    const publicUrl = `http://127.0.0.1:${port}`
    await writeFile(join(t.dir, 'config.json'), JSON.stringify({ sandbox: { readOnlyPaths: [repo.dir] }, http: { listen: `127.0.0.1:${port}`, publicUrl } }))
    await writeFile(join(repo.dir, 'token'), 'tok-123\n')
    let daemon = await startDaemon(t.dir)
    const home = { home: t.dir }

    json(await cli(['repo', 'add', 'libfoo', '--url', repo.bare, '--github', 'acme/libfoo', '--token-file', join(repo.dir, 'token'), '--api-url', forge.url, '--json'], home))
    // a hook of another kind stays as it is
    await writeFile(join(repo.bare, 'hooks', 'pre-receive'), '#!/bin/sh\nexit 0\n')
    await chmod(join(repo.bare, 'hooks', 'pre-receive'), 0o755)
    const installed = json(await cli(['hook', 'install', repo.bare, '--json'], home))
    expect(installed).toMatchObject({ repo: 'libfoo', kind: 'post-receive' })

    const c1 = await repo.commit({ '.cit.yaml': jobFile('libfoo'), 'version.txt': 'one\n' })
    expect(repo.push('main').status).toBe(0)
    const done = await waitFor(async () => {
      const v = json(await cli(['show', 'libfoo_main', '--json'], home))
      return v.state === 'succeeded' || v.state === 'failed' ? v : undefined
    }, { timeoutMs: 60_000, what: 'the pushed commit built' })
    expect(done.state).toBe('succeeded')
    expect(done.source).toMatchObject({ repo: 'libfoo', commit: c1, ref: 'refs/heads/main', branch: 'main' })
    expect(done.build).toBe(1)
    const log = (await cli(['logs', done.id], home)).stdout
    expect(log).toContain(`HEAD ${c1}`)
    expect(log).toContain('built libfoo main build 1')
    expect(log).toContain('one')

    await waitFor(() => statesFor(forge.posts, c1).length >= 2, { timeoutMs: 30_000, what: 'pending and success posted' })
    expect(statesFor(forge.posts, c1)).toEqual(['pending', 'success'])
    const success = forge.posts.find(p => p.path.endsWith(c1) && p.body.state === 'success')!
    expect(success.path).toBe(`/api/v3/repos/acme/libfoo/statuses/${c1}`)
    expect(success.authorization).toBe('Bearer tok-123')
    expect(success.body.context).toBe('cit-node/libfoo_main')
    expect(success.body.target_url).toBe(`${publicUrl}/jobs/${String(done.id)}`)
    expect((await http(port, 'GET', `/jobs/${String(done.id)}`)).status).toBe(200)
    expect(forge.attempts()).toBe(forge.posts.length + 1)

    // a failing commit: failure; the next build number
    const c2 = await repo.commit({ '.cit.yaml': jobFile('libfoo', 'echo broken; exit 3') })
    repo.push('main')
    await waitFor(() => statesFor(forge.posts, c2).includes('failure'), { timeoutMs: 60_000, what: 'failure posted' })
    expect(json(await cli(['show', 'libfoo_main', '--json'], home))).toMatchObject({ state: 'failed', build: 2 })

    // no job file, then one that does not validate: no job, an error status naming the problem
    const jobsBefore = json(await cli(['jobs', '--json'], home)).length
    const c3 = await repo.commit({ '.cit.yaml': null })
    repo.push('main')
    await waitFor(() => statesFor(forge.posts, c3).includes('error'), { timeoutMs: 30_000, what: 'error posted for a commit without a job file' })
    expect(forge.posts.find(p => p.path.endsWith(c3))!.body.description).toContain('no job file .cit.yaml')
    const c4 = await repo.commit({ '.cit.yaml': 'name: libfoo\nstages:\n  - title: build\n    steps:\n      - { title: x }\n' })
    repo.push('main')
    await waitFor(() => statesFor(forge.posts, c4).includes('error'), { timeoutMs: 30_000, what: 'error posted for an invalid job file' })
    expect(forge.posts.find(p => p.path.endsWith(c4))!.body.description).toMatch(/\.cit\.yaml.*command/)
    expect(json(await cli(['jobs', '--json'], home))).toHaveLength(jobsBefore)

    // the daemon is down: the push goes through at once and says so; the build comes when it is back
    await daemon.kill()
    const c5 = await repo.commit({ '.cit.yaml': jobFile('libfoo'), 'version.txt': 'five\n' })
    const pushed = repo.push('main')
    expect(pushed.status).toBe(0)
    expect(pushed.stderr).toContain('queued and sent when it starts')
    expect(pushed.stderr.trim().split('\n').filter(l => l.includes('cit-node'))).toHaveLength(1)
    daemon = await startDaemon(t.dir)
    const queued = await waitFor(async () => {
      const v = json(await cli(['show', 'libfoo_main', '--json'], home))
      return v.source?.commit === c5 && v.state === 'succeeded' ? v : undefined
    }, { timeoutMs: 60_000, what: 'the queued push built' })
    expect(queued.build).toBe(3)
    await expect(access(join(t.dir, 'trigger-queue.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' })

    const list = json(await cli(['repo', 'list', '--json'], home))
    expect(list).toHaveLength(1)
    expect(list[0]).toMatchObject({ name: 'libfoo', url: repo.bare, forge: 'github', project: 'acme/libfoo', hasToken: true })
    expect(list[0].lastStatus).toMatchObject({ outcome: 'posted (201)' })

    // uninstall removes only cit-node's hook
    expect(json(await cli(['hook', 'uninstall', repo.bare, '--json'], home)).removed).toBe(true)
    await expect(access(join(repo.bare, 'hooks', 'post-receive'))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readFile(join(repo.bare, 'hooks', 'pre-receive'), 'utf8')).toBe('#!/bin/sh\nexit 0\n')
    await daemon.kill()
  }, 240_000)

  it('in a working repository the hook is post-commit: a commit on a branch builds it; a foreign hook is left alone and the line to add printed', async () => {
    const repo = await makeRepo()
    cleanups.push(repo.cleanup)
    const t = await tempHome('cit-tc-')
    cleanups.push(t.cleanup)
    await writeFile(join(t.dir, 'config.json'), JSON.stringify({ sandbox: { readOnlyPaths: [repo.dir] } }))
    const daemon = await startDaemon(t.dir)
    const home = { home: t.dir }
    const installed = json(await cli(['hook', 'install', repo.work, '--name', 'workfoo', '--json'], home))
    expect(installed).toMatchObject({ repo: 'workfoo', kind: 'post-commit' })
    expect(json(await cli(['repo', 'list', '--json'], home))[0]).toMatchObject({ name: 'workfoo', url: repo.work })
    const commit = await repo.commit({ '.cit.yaml': jobFile('workfoo'), 'version.txt': 'local\n' })
    const done = await waitFor(async () => {
      const v = json(await cli(['show', 'workfoo_main', '--json'], home))
      return v.state === 'succeeded' || v.state === 'failed' ? v : undefined
    }, { timeoutMs: 60_000, what: 'the committed commit built' })
    expect(done).toMatchObject({ state: 'succeeded', source: { commit, branch: 'main' } })
    expect((await cli(['logs', done.id], home)).stdout).toContain(`HEAD ${commit}`)
    // installing twice keeps one block
    expect((await cli(['hook', 'install', repo.work], home)).code).toBe(0)
    const hookFile = join(repo.work, '.git', 'hooks', 'post-commit')
    expect((await readFile(hookFile, 'utf8')).match(/>>> cit-node/g)).toHaveLength(1)
    await cli(['hook', 'uninstall', repo.work], home)
    await writeFile(hookFile, '#!/bin/sh\necho mine\n')
    const refused = await cli(['hook', 'install', repo.work], home)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('trigger')
    expect(await readFile(hookFile, 'utf8')).toBe('#!/bin/sh\necho mine\n')
    await daemon.kill()
  }, 120_000)
})
