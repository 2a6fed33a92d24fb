import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { collectArtefacts, globProblem } from '../../../node/executor/artefacts.js'
import { silentLogger } from '../../../store/logger.js'
import { makeFixture, readBlob, readCast, sha256, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'

describe('Executor: artefacts', () => {
  let fx: Fixture
  beforeEach(async () => { fx = await makeFixture() })
  afterEach(async () => { await fx.cleanup() })

  it('stores matched files by sha256, sorted by path, also when the job failed', async () => {
    const result = await fx.executor.run({
      jobId: 'a1',
      spec: spec('arts', [stage('s', [[
        'make',
        'mkdir -p dist/sub && echo one > dist/a.tar.gz && echo two > dist/sub/b.tar.gz && printf "<xml/>" > report.xml && echo no > dist/c.txt; exit 1'
      ]])], { artefacts: ['dist/**/*.tar.gz', 'report.xml', 'missing/*'] }),
      params: {}
    })
    expect(result.outcome).toBe('failed')
    expect(result.artefacts.map(a => a.path)).toEqual(['dist/a.tar.gz', 'dist/sub/b.tar.gz', 'report.xml'])
    for (const art of result.artefacts) {
      const onDisk = await readFile(join(fx.workspaces, 'arts', art.path))
      expect(art.sha256).toBe(sha256(onDisk))
      expect(art.size).toBe(onDisk.length)
      expect(await readBlob(fx.blobs, art.sha256)).toEqual(onDisk)
    }
    expect(result.refused).toEqual([])
  })

  it('refuses a symlink to /etc/passwd, a link on a glob\'s path, and globs leaving the workspace', async () => {
    const result = await fx.executor.run({
      jobId: 'a2',
      spec: spec('evil', [stage('s', [[
        'plant',
        'mkdir -p out && echo fine > out/ok.txt && ln -s /etc/passwd out/passwd.txt && ln -s /etc linked && ln -s /etc/passwd report.xml'
      ]])], { artefacts: ['out/*.txt', 'report.xml', 'linked/passwd', '../*', 'out/../../x', '/etc/passwd'] }),
      params: {}
    })
    expect(result.outcome, (await readCast(fx.blobs, result.log)).output + String(result.reason)).toBe('succeeded')
    expect(result.artefacts.map(a => a.path)).toEqual(['out/ok.txt'])
    const refused = Object.fromEntries((result.refused ?? []).map(r => [r.path, r.reason]))
    expect(Object.keys(refused).sort()).toEqual(['../*', '/etc/passwd', 'linked', 'out/../../x', 'out/passwd.txt', 'report.xml'].sort())
    expect(refused['out/passwd.txt']).toMatch(/symbolic link/)
    expect(refused.linked).toMatch(/symbolic link/)
    expect(refused['../*']).toMatch(/\.\./)
    expect(refused['/etc/passwd']).toMatch(/absolute/)
    // nothing of /etc/passwd reached the store
    const passwd = sha256(await readFile('/etc/passwd'))
    expect(await fx.blobs.has(passwd)).toBe(false)
  })

  it('applies ! globs as exclusions and refuses what is not a regular file', async () => {
    const ws = join(fx.dir, 'ws')
    await mkdir(join(ws, 'logs'), { recursive: true })
    await writeFile(join(ws, 'logs', 'a.log'), 'a')
    await writeFile(join(ws, 'logs', 'debug.log'), 'd')
    await symlink('a.log', join(ws, 'logs', 'inner.log'))
    const out = await collectArtefacts(ws, ['logs/*.log', '!logs/debug.log'], fx.blobs, silentLogger)
    expect(out.artefacts.map(a => a.path)).toEqual(['logs/a.log'])
    expect(out.refused).toEqual([{ path: 'logs/inner.log', reason: expect.stringMatching(/symbolic link/) }])
  })

  it('names the problem of each unusable glob', () => {
    expect(globProblem('dist/*.tar.gz')).toBeUndefined()
    expect(globProblem('a/../b')).toMatch(/\.\./)
    expect(globProblem('!../x')).toMatch(/\.\./)
    expect(globProblem('/abs')).toMatch(/absolute/)
    expect(globProblem('')).toMatch(/empty/)
  })
})
