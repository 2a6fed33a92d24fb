import { createHmac } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../protocols/codec/index.js'
import { createMesh, makeGrant } from '../../protocols/trust/index.js'
import { validateAnnouncement } from '../../protocols/job/index.js'
import { keyParams, sourceEnv, sourceProblem } from '../../protocols/job/source.js'
import { silentLogger } from '../../store/logger.js'
import { Ingest } from '../../node/mesh/ingest.js'
import { mountArgs } from '../../node/executor/sandbox/mounts.js'
import { RepoRegistry } from '../../node/triggers/repo-registry.js'
import { branchMatches, repoRecordProblems } from '../../node/triggers/repo-record.js'
import { checkTriggerRequest, triggeredName } from '../../node/triggers/trigger.js'
import { signatureMatches, triggerOf } from '../../node/triggers/webhooks.js'
import { pushedRefs } from '../../cli/commands/trigger.js'
import { jobServiceOnDisk } from '../helpers/job-service.js'
import { waitFor } from '../helpers/wait.js'
import type { MetaStore } from '../../store/meta/index.js'
import type { JobServiceOnDisk } from '../helpers/job-service.js'
import type { MeshInfo } from '../../protocols/trust/index.js'

const C1 = 'a'.repeat(40)

describe('trigger parts', () => {
  it('a webhook signature matches only the exact bytes under the secret, with the forge\'s prefix', () => {
    const body = Buffer.from('{"ref":"refs/heads/main"}')
    const hex = createHmac('sha256', 's3cret').update(body).digest('hex')
    expect(signatureMatches('s3cret', body, `sha256=${hex}`, 'sha256=')).toBe(true)
    expect(signatureMatches('s3cret', body, hex, '')).toBe(true)
    expect(signatureMatches('other', body, `sha256=${hex}`, 'sha256=')).toBe(false)
    expect(signatureMatches('s3cret', Buffer.from('{"ref":"refs/heads/evil"}'), `sha256=${hex}`, 'sha256=')).toBe(false)
    expect(signatureMatches('s3cret', body, hex, 'sha256=')).toBe(false)
    expect(signatureMatches('s3cret', body, `sha256=${hex.slice(0, 10)}`, 'sha256=')).toBe(false)
    expect(signatureMatches('s3cret', body, undefined, 'sha256=')).toBe(false)
  })

  it('push and pull_request payloads become triggers; deletions and other actions none; malformed ones throw ERR_INVALID_INPUT', () => {
    expect(triggerOf('r', 'push', { ref: 'refs/heads/main', after: C1 })).toEqual({ repo: 'r', commit: C1, ref: 'refs/heads/main' })
    expect(triggerOf('r', 'push', { ref: 'refs/heads/main', after: '0'.repeat(40), deleted: true })).toBeUndefined()
    expect(triggerOf('r', 'pull_request', { action: 'synchronize', number: 25, pull_request: { head: { sha: C1 } } })).toEqual({ repo: 'r', commit: C1, ref: 'refs/pull/25/head', pr: 25 })
    expect(triggerOf('r', 'pull_request', { action: 'labeled', number: 25, pull_request: { head: { sha: C1 } } })).toBeUndefined()
    for (const [event, payload] of [['push', null], ['push', { ref: 1 }], ['pull_request', { action: 'opened' }], ['pull_request', { action: 'opened', pull_request: { head: {} } }]] as const) {
      expect(() => triggerOf('r', event, payload)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }))
    }
    expect(() => checkTriggerRequest({ repo: 'r', commit: 'HEAD', ref: 'refs/heads/x' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }))
    expect(() => checkTriggerRequest({ repo: 'r', commit: C1, ref: '--upload-pack=x' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }))
  })

  it('branch globs, job names per branch or pull request, and a post-receive hook\'s input', () => {
    expect(branchMatches([], 'anything')).toBe(true)
    expect(branchMatches(['main', 'release/*'], 'release/1.2')).toBe(true)
    expect(branchMatches(['release/*'], 'release/1/hotfix')).toBe(false)
    expect(branchMatches(['release/**'], 'release/1/hotfix')).toBe(true)
    expect(branchMatches(['ma.n'], 'main')).toBe(false)
    expect(triggeredName('libfoo', { branch: 'main' })).toBe('libfoo_main')
    expect(triggeredName('libfoo', { branch: 'feature/x y' })).toBe('libfoo_feature-x-y')
    expect(triggeredName('libfoo', { pr: 25 })).toBe('libfoo_pr25')
    expect(pushedRefs(`${'0'.repeat(40)} ${C1} refs/heads/main\n${C1} ${'0'.repeat(40)} refs/heads/gone\n${'0'.repeat(40)} ${C1} refs/tags/v1\n`, 'r'))
      .toEqual([{ repo: 'r', commit: C1, ref: 'refs/heads/main' }])
  })

  it('repo records and job sources are checked field by field; a source joins the environment and the cache key', () => {
    expect(repoRecordProblems({ name: 'libfoo', url: '/srv/git/libfoo.git', job: '.cit.yaml', branches: [], at: 1 })).toEqual([])
    const bad = repoRecordProblems({ name: '-x', url: '--upload-pack=evil', job: '../etc', branches: 'main', forge: 'gitlab', at: -1, extra: 1 })
    expect(bad.map(p => p.path).sort()).toEqual(['at', 'branches', 'extra', 'forge', 'job', 'name', 'project', 'url'])
    const source = { repo: 'libfoo', url: '/srv/git/libfoo.git', commit: C1, ref: 'refs/heads/main', branch: 'main' }
    expect(sourceProblem(source)).toBeUndefined()
    expect(sourceProblem({ ...source, pr: 3 })).toBeDefined()
    expect(sourceProblem({ ...source, commit: 'HEAD' })).toBeDefined()
    expect(sourceProblem({ ...source, url: '-oProxyCommand=x' })).toBeDefined()
    expect(sourceEnv(source, 4)).toEqual({ CIT_REPO: 'libfoo', CIT_REPO_URL: source.url, CIT_COMMIT: C1, CIT_REF: 'refs/heads/main', CIT_BRANCH: 'main', CIT_BUILD: '4' })
    expect(keyParams({}, source)).not.toEqual(keyParams({}, { ...source, commit: 'b'.repeat(40) }))
    const spec = { name: 'x', stages: [{ steps: [{ command: 'true' }] }] }
    const base = { spec, params: {}, priority: 0, submittedAt: 1, node: '12D3KooWabc', nonce: '00112233' }
    expect(validateAnnouncement({ ...base, source, build: 2 }).value).toMatchObject({ source, build: 2 })
    expect(validateAnnouncement({ ...base, source: { ...source, commit: 'x' } }).problem).toContain('commit')
    expect(validateAnnouncement({ ...base, build: 0 }).problem).toContain('build')
  })

  it('a read-only path inside the job\'s /tmp gets its parents made (0755) before its bind', () => {
    const args = mountArgs({ hidden: [], secret: [], readOnly: [{ path: '/tmp/repos/a/libfoo.git', kind: 'dir' }], listings: new Map([['/', []]]), workspace: '/w', dev: 'minimal' })
    const bind = args.findIndex((a, i) => a === '--ro-bind' && args[i + 1] === '/tmp/repos/a/libfoo.git')
    const dirs = args.flatMap((a, i) => a === '--dir' ? [[args[i + 1], i] as const] : [])
    expect(dirs.map(([d]) => d)).toEqual(['/tmp/repos', '/tmp/repos/a'])
    expect(dirs.every(([, i]) => i < bind && i > args.indexOf('/tmp'))).toBe(true)
  })
})

describe('repo records from peers', () => {
  let parts: JobServiceOnDisk<true>
  let meta: MetaStore
  let admin: Identity
  let reader: Identity
  let mesh: MeshInfo
  let ingest: Ingest
  let registry: RepoRegistry

  beforeEach(async () => {
    admin = await Identity.generate()
    reader = await Identity.generate()
    mesh = createMesh(admin)
    parts = await jobServiceOnDisk({ prefix: 'cit-trg-', identity: admin, trust: mesh })
    const { log, trust, peers, jobs } = parts
    meta = parts.meta
    await trust.add(makeGrant(admin, mesh, reader.publicKey, ['read']).bytes)
    registry = new RepoRegistry({ identity: admin, meta, recordLog: log, publish: () => {}, mayRegister: k => trust.hasRole(k, 'submit') || trust.hasRole(k, 'admin'), mesh: () => mesh.id, logger: silentLogger })
    await registry.start()
    ingest = new Ingest({ trust, jobs, peers, logger: silentLogger, records: registry, mesh: mesh.id })
  })
  afterEach(async () => { await parts.close() })

  const recordOf = (): Record<string, unknown> => ({ name: 'libfoo', url: '/srv/git/libfoo.git', job: '.cit.yaml', branches: [], at: 10, mesh: mesh.id })
  const deliver = async (bytes: Uint8Array): Promise<string | undefined> => {
    const v = ingest.check(bytes, 'trust')
    if (!v.ok) return v.reason
    await ingest.apply(v.value)
    return undefined
  }

  it('a member with the role is heard once; a reader, an outsider, a malformed record and a tampered one are dropped; the newest record of a name wins', async () => {
    const outsider = await Identity.generate()
    expect(await deliver(seal(reader, 'repo', recordOf()).bytes)).toBe('bad-repo')
    expect(await deliver(seal(outsider, 'repo', recordOf()).bytes)).toBe('not-a-member')
    expect(await deliver(seal(admin, 'repo', { ...recordOf(), url: '' }).bytes)).toBe('bad-repo')
    const good = seal(admin, 'repo', recordOf())
    const tampered = Buffer.from(good.bytes)
    tampered[tampered.indexOf(Buffer.from('libfoo.git'))] ^= 1
    expect(await deliver(tampered)).toBe('bad-signature')
    expect(registry.get('libfoo')).toBeUndefined()
    expect(await deliver(good.bytes)).toBeUndefined()
    expect(registry.get('libfoo')?.url).toBe('/srv/git/libfoo.git')
    await deliver(good.bytes)
    expect(ingest.stats().dropped.duplicate).toBe(1)
    // an older record arriving late changes nothing; a removal that is newer removes
    expect(await deliver(seal(admin, 'repo', { ...recordOf(), url: '/old', at: 5 }).bytes)).toBeUndefined()
    expect(registry.get('libfoo')?.url).toBe('/srv/git/libfoo.git')
    expect(await deliver(seal(admin, 'repo', { name: 'libfoo', at: 11, removed: true, mesh: mesh.id }).bytes)).toBeUndefined()
    expect(registry.get('libfoo')).toBeUndefined()
    // a record of another mesh, or of none, is not this mesh's
    expect(await deliver(seal(admin, 'repo', { ...recordOf(), name: 'other', mesh: 'f'.repeat(64) }).bytes)).toBe('wrong-mesh')
    const { mesh: _m, ...meshless } = recordOf()
    expect(await deliver(seal(admin, 'repo', { ...meshless, name: 'other' }).bytes)).toBe('wrong-mesh')
    expect(registry.get('other')).toBeUndefined()
    // a record dated far ahead would win over every later one for good: refused
    expect(await deliver(seal(admin, 'repo', { ...recordOf(), name: 'other', at: Number.MAX_SAFE_INTEGER }).bytes)).toBe('from-the-future')
    expect(registry.get('other')).toBeUndefined()
    // on the job topic it is out of place
    expect(ingest.check(good.bytes, 'job')).toMatchObject({ ok: false, reason: 'wrong-topic' })
  })

  it('a newer record from another member that points elsewhere does not get this node\'s secret or token', async () => {
    const other = await Identity.generate()
    const trustGrant = makeGrant(admin, mesh, other.publicKey, ['submit'])
    expect(await deliver(trustGrant.bytes)).toBeUndefined()
    const added = await registry.add({ name: 'libfoo', url: 'https://github.com/acme/libfoo.git', forge: 'github', project: 'acme/libfoo', secret: 's', token: 't' })
    expect(added).toMatchObject({ hasSecret: true, hasToken: true })
    expect(await registry.secrets('libfoo')).toMatchObject({ secret: 's', token: 't', changed: false })
    const redirect = { ...registry.get('libfoo')!, apiUrl: 'https://attacker.example', at: registry.get('libfoo')!.at + 1 }
    expect(await deliver(seal(other, 'repo', redirect).bytes)).toBeUndefined()
    expect(registry.get('libfoo')?.apiUrl).toBe('https://attacker.example')
    expect(await registry.secrets('libfoo')).toEqual({ changed: true })
    expect((await registry.list())[0]).toMatchObject({ hasSecret: false, hasToken: false })
    // this node's own repo add binds them again
    await registry.add({ name: 'libfoo', url: 'https://github.com/acme/libfoo.git', forge: 'github', project: 'acme/libfoo' })
    expect(await registry.secrets('libfoo')).toMatchObject({ secret: 's', token: 't' })
  })

  it('notify and export in config.json are checked field by field', async () => {
    const { validateConfig } = await import('../../node/config/config.js')
    expect(validateConfig({ notify: { on: ['failure'], http: 'https://x.example/hook' }, export: { elasticsearch: 'http://es:9200', index: 'cit-jobs' } }).notify).toHaveLength(1)
    try {
      validateConfig({ notify: [{ on: ['always'], http: 'https://x' }, { on: ['fixed'], matrix: { homeserver: 'x', room: 'general', tokenFile: 'rel' } }, { on: ['success'] }], export: { elasticsearch: 'es', index: 'UPPER' } })
      expect.unreachable()
    } catch (err: any) {
      expect(err.code).toBe('ERR_INVALID_INPUT')
      expect(err.problems.map((p: any) => p.path).sort()).toEqual(['export.elasticsearch', 'export.index', 'notify[0].on', 'notify[1].matrix.homeserver', 'notify[1].matrix.room', 'notify[1].matrix.tokenFile', 'notify[2]'])
    }
  })

  it('a commit status is posted once per state; a 5xx is retried, a 401 is counted and not retried', async () => {
    const { StatusReporter } = await import('../../node/triggers/statuses.js')
    const { fakeForge } = await import('./helpers.js')
    const flaky = await fakeForge({ failFirst: 2 })
    const denied = await fakeForge({ status: 401 })
    try {
      const reporter = new StatusReporter({ registry, meta, logger: silentLogger, jobUrl: () => undefined }, { self: admin.id, retryBaseMs: 5 })
      await registry.add({ name: 'ok', url: 'https://x.example/ok.git', forge: 'github', project: 'acme/ok', apiUrl: flaky.url, token: 'tok' })
      await registry.add({ name: 'no', url: 'https://x.example/no.git', forge: 'github', project: 'acme/no', apiUrl: denied.url, token: 'bad' })
      const post = (repo: string, state: 'pending' | 'success'): void => { reporter.post({ key: `job-${repo}`, repo: registry.get(repo)!, commit: C1, state, context: 'cit-node/x', description: state }) }
      post('ok', 'pending')
      post('ok', 'pending')
      post('ok', 'success')
      post('no', 'pending')
      await waitFor(async () => (await registry.local('ok')).lastStatus?.state === 'success' && (await registry.local('no')).lastStatus != null, { timeoutMs: 10_000, what: 'both outcomes' })
      expect(flaky.posts.map(p => p.body.state)).toEqual(['pending', 'success'])
      expect(flaky.attempts()).toBe(4)
      expect(denied.attempts()).toBe(1)
      expect((await registry.local('no')).lastStatus).toMatchObject({ state: 'pending', outcome: 'refused (401)' })
      expect(reporter.stats()).toMatchObject({ 'http-502': 2, 'http-401': 1, posted: 2 })
      // a second reporter (a restart) posts nothing it posted before
      const again = new StatusReporter({ registry, meta, logger: silentLogger, jobUrl: () => undefined }, { self: admin.id, retryBaseMs: 5 })
      again.post({ key: 'job-ok', repo: registry.get('ok')!, commit: C1, state: 'success', context: 'cit-node/x', description: 'success' })
      // a deliberate fixed wait: proves the restarted reporter posts nothing again
      await new Promise(resolve => setTimeout(resolve, 200))
      expect(flaky.attempts()).toBe(4)
      reporter.stop()
      again.stop()
    } finally {
      await flaky.close()
      await denied.close()
    }
  })
})
