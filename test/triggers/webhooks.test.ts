import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, freePort, json, killAllDaemons, startDaemon, tempHome, waitFor } from '../helpers/cli.js'
import { http } from '../http/helpers.js'
import { MAX_WEBHOOK_BYTES } from '../../node/triggers/webhooks.js'
import { fakeForge, jobFile, makeRepo, oversized, statesFor, webhook } from './helpers.js'
import type { TestRepo } from './helpers.js'

describe('forge webhooks on the HTTP face', () => {
  const cleanups: Array<() => Promise<void>> = []
  let repo: TestRepo
  let forge: Awaited<ReturnType<typeof fakeForge>>
  let port: number
  let home: { home: string }
  const SECRET = 'webhook-secret-1'
  const jobs = async (): Promise<any[]> => json(await cli(['jobs', '--json'], home))
  const built = async (name: string, commit: string): Promise<any> => await waitFor(async () => {
    const v = json(await cli(['show', name, '--json'], home))
    return v.source?.commit === commit && (v.state === 'succeeded' || v.state === 'failed') ? v : undefined
  }, { timeoutMs: 60_000, what: `${name} built at ${commit}` })

  beforeAll(async () => {
    repo = await makeRepo()
    cleanups.push(repo.cleanup)
    forge = await fakeForge()
    cleanups.push(forge.close)
    const t = await tempHome('cit-tw-')
    cleanups.push(t.cleanup)
    home = { home: t.dir }
    port = await freePort()
    await writeFile(join(t.dir, 'config.json'), JSON.stringify({ sandbox: { readOnlyPaths: [repo.dir] }, http: { listen: `127.0.0.1:${port}`, publicUrl: `http://127.0.0.1:${port}` } }))
    await writeFile(join(repo.dir, 'secret'), `${SECRET}\n`)
    await writeFile(join(repo.dir, 'token'), 'gh-token\n')
    await startDaemon(t.dir)
    // the bare repository stands in for the forge's clone URL
    for (const [name, forgeFlag] of [['libfoo', '--github'], ['libbar', '--forgejo']]) {
      json(await cli(['repo', 'add', name, '--url', repo.bare, forgeFlag, `acme/${name}`, '--secret-file', join(repo.dir, 'secret'), '--token-file', join(repo.dir, 'token'), '--api-url', forge.url, '--json'], home))
    }
  }, 60_000)
  afterAll(async () => {
    await killAllDaemons()
    for (const c of cleanups.reverse()) await c()
  })

  it('a signed push builds the pushed commit and its statuses reach the forge; ping answers; a replayed delivery is ignored', async () => {
    const commit = await repo.commit({ '.cit.yaml': jobFile('libfoo'), 'version.txt': 'hooked\n' })
    repo.push('main')
    const ping = await webhook(port, 'libfoo', { secret: SECRET, event: 'ping', delivery: 'd-ping', body: { zen: 'hi' } })
    expect(ping.status).toBe(200)
    const push = { ref: 'refs/heads/main', after: commit, repository: { full_name: 'acme/libfoo' } }
    const r = await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'd-1', body: push })
    expect(r.status).toBe(202)
    const v = await built('libfoo_main', commit)
    expect(v.state).toBe('succeeded')
    expect((await cli(['logs', v.id], home)).stdout).toContain(`HEAD ${commit}`)
    await waitFor(() => statesFor(forge.posts, commit).length >= 2, { timeoutMs: 30_000, what: 'statuses posted' })
    expect(statesFor(forge.posts, commit)).toEqual(['pending', 'success'])
    expect(forge.posts.find(p => p.path.endsWith(commit))!.authorization).toBe('Bearer gh-token')

    const before = (await jobs()).length
    const replay = await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'd-1', body: push })
    expect(replay.status).toBe(200)
    expect(replay.json().ignored).toBeDefined()
    // a deliberate fixed wait: proves the replay queues no job
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(await jobs()).toHaveLength(before)
    const [listed] = json(await cli(['repo', 'list', '--json'], home)).filter((x: any) => x.name === 'libfoo')
    expect(listed.lastDelivery).toMatchObject({ id: 'd-1', event: 'push', outcome: 'accepted' })
  }, 120_000)

  it('a captured signed body replayed without its delivery id or under another builds nothing; two copies of one delivery sent together build once', async () => {
    const commit = await repo.commit({ '.cit.yaml': jobFile('libfoo'), 'version.txt': 'replayed\n' })
    repo.push('main')
    const push = { ref: 'refs/heads/main', after: commit, before: '0'.repeat(40), repository: { full_name: 'acme/libfoo' } }
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'r-1', body: push })).status).toBe(202)
    await built('libfoo_main', commit)
    const before = (await jobs()).length
    const replayed = json(await cli(['repo', 'stats', '--json'], home)).webhooks.replayed ?? 0
    // the HMAC covers the body, not the headers: the attacker drops the id, or makes one up
    for (const delivery of [null, 'r-forged']) {
      const r = await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery, body: push })
      expect(r.status, String(delivery)).toBe(200)
      expect(r.json().ignored, String(delivery)).toBeDefined()
    }

    // two copies of one new delivery at once: one is taken, the other is a replay
    const next = await repo.commit({ 'version.txt': 'twice\n' })
    repo.push('main')
    const body = { ...push, after: next, before: commit }
    const copies = await Promise.all([1, 2, 3].map(async () => await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'r-2', body })))
    expect(copies.map(c => c.status).sort()).toEqual([200, 200, 202])
    await built('libfoo_main', next)
    // a deliberate fixed wait: proves the two replayed copies queue no second job
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(await jobs()).toHaveLength(before + 1)
    expect(json(await cli(['repo', 'stats', '--json'], home)).webhooks.replayed).toBe(replayed + 4)
  }, 120_000)

  it('a pull request builds its head as <name>_pr<N> with CIT_PR; Forgejo\'s signature header works the same', async () => {
    const head = await repo.commit({ 'version.txt': 'pr\n' })
    repo.push('feature/x')
    const pr = { action: 'opened', number: 7, pull_request: { number: 7, head: { sha: head, ref: 'feature/x' } } }
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'pull_request', delivery: 'd-pr', body: pr })).status).toBe(202)
    const v = await built('libfoo_pr7', head)
    expect(v.source).toMatchObject({ pr: 7, ref: 'refs/pull/7/head' })
    expect((await cli(['logs', v.id], home)).stdout).toContain('built libfoo 7 build 1')
    // a closed pull request builds nothing
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'pull_request', delivery: 'd-pr2', body: { ...pr, action: 'closed' } })).json().ignored).toBeDefined()

    const fj = await webhook(port, 'libbar', { secret: SECRET, event: 'push', delivery: 'f-1', forge: 'forgejo', body: { ref: 'refs/heads/main', after: head } })
    expect(fj.status).toBe(202)
    await built('libfoo_main', head)
    await waitFor(() => forge.posts.some(p => p.path === `/api/v3/repos/acme/libbar/statuses/${head}` && p.body.state === 'success'), { timeoutMs: 30_000, what: 'forgejo status' })
    expect(forge.posts.find(p => p.path.includes('acme/libbar'))!.authorization).toBe('token gh-token')
  }, 120_000)

  it('a bad or missing signature, an unknown repository, an unknown event, a malformed payload and an oversized body are refused with their status, counted, and build nothing', async () => {
    const commit = await repo.commit({ '.cit.yaml': jobFile('libfoo'), 'version.txt': 'attack\n' })
    repo.push('main')
    const before = (await jobs()).length
    const push = { ref: 'refs/heads/main', after: commit }
    const forged = await webhook(port, 'libfoo', { secret: 'not-the-secret', event: 'push', delivery: 'x-1', body: push })
    expect(forged.status).toBe(401)
    expect(forged.json().code).toBe('ERR_UNAUTHORIZED')
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'x-2', body: push, signature: null })).status).toBe(401)
    // a signature for other bytes than those sent
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'x-3', body: push, raw: Buffer.from(JSON.stringify({ ...push, ref: 'refs/heads/evil' })), signature: `sha256=${'0'.repeat(64)}` })).status).toBe(401)
    // a GitHub-signed delivery on the Forgejo route of a GitHub repository
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'x-4', body: push, forge: 'forgejo' })).status).toBe(404)
    expect((await webhook(port, 'nosuch', { secret: SECRET, event: 'push', delivery: 'x-5', body: push })).status).toBe(404)
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'issues', delivery: 'x-6', body: push })).status).toBe(400)
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'x-7', body: null, raw: Buffer.from('{not json') })).status).toBe(400)
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'x-8', body: { ref: 'refs/heads/main' } })).status).toBe(400)
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'x-9', body: { ref: 'refs/heads/main', after: 'HEAD; rm -rf /' } })).status).toBe(400)
    expect(await oversized(port, '/hooks/github/libfoo', MAX_WEBHOOK_BYTES + 1, { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'x-10', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` })).toBe(413)
    // a refused delivery id is not taken: the real one with it still builds
    expect((await webhook(port, 'libfoo', { secret: SECRET, event: 'push', delivery: 'x-1', body: push })).status).toBe(202)
    await built('libfoo_main', commit)
    expect(await jobs()).toHaveLength(before + 1)
    const stats = json(await cli(['repo', 'stats', '--json'], home))
    expect(stats.webhooks).toMatchObject({ 'bad-signature': 3, 'unknown-repo': 2, 'unknown-event': 1, malformed: 3 })
    expect((await http(port, 'GET', '/hooks/github/libfoo')).status).toBe(404)
  }, 120_000)
})

