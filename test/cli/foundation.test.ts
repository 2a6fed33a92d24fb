import { createHash } from 'node:crypto'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, killAllDaemons, startDaemon, tempHome, waitFor } from '../helpers/cli.js'
import type { Daemon } from '../helpers/cli.js'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('one node runs a whole job (CLI end to end)', () => {
  const homes: Array<{ dir: string, cleanup: () => Promise<void> }> = []
  const home = async (): Promise<string> => { const h = await tempHome(); homes.push(h); return h.dir }

  // daemons of a test that failed half-way are killed here at the latest
  afterAll(async () => {
    await killAllDaemons()
    for (const h of homes) await h.cleanup()
  })

  it('run: the embedded default runs a job with a node of its own and exits 0', async () => {
    const h = await home()
    const r = await cli(['run', 'examples/build.yaml'], { home: h })
    expect(r.stderr).toContain('example-build succeeded')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('== build succeeded')
    expect(r.stdout).toContain('report.xml written')
    // nothing is left running: the in-process node stopped with the command
    expect((await cli(['status'], { home: h })).code).toBe(3)
  })

  it('run: a failing job exits 1 and its onFailure hooks ran, in order', async () => {
    const h = await home()
    const r = await cli(['run', 'examples/failing.yaml'], { home: h })
    expect(r.code).toBe(1)
    const out = r.stdout
    const order = ['a step that works', 'about to fail', 'stage onFailure', 'job onFailure']
    const at = order.map(s => out.indexOf(s))
    expect(at.every(i => i >= 0)).toBe(true)
    expect([...at].sort((a, b) => a - b)).toEqual(at)
    expect(out).not.toContain('not reached')
    expect(r.stderr).toMatch(/example-failing failed .*exit 3/)
  })

  it('validate and submit name every problem of a broken job file, and queue nothing', async () => {
    const h = await home()
    const file = join(h, 'broken.yaml')
    await writeFile(file, 'name: bad job\ntimeout: soon\nstages:\n  - title: a\n    steps:\n      - { title: x }\n')
    const v = await cli(['validate', file], { home: h })
    expect(v.code).toBe(2)
    expect(v.stderr).toContain('name')
    expect(v.stderr).toContain('timeout')
    expect(v.stderr).toContain('stages[0].steps[0].command')
    expect((await cli(['validate', 'examples/params.yaml'], { home: h })).code).toBe(0)
    const d = await startDaemon(h)
    const s = await cli(['submit', file], { home: h })
    expect(s.code).toBe(2)
    expect(s.stderr).toContain('stages[0].steps[0].command')
    const jobs = await cli(['jobs', '--json'], { home: h })
    expect(JSON.parse(jobs.stdout)).toEqual([])
    const p = await cli(['submit', 'examples/params.yaml', '--param', 'NOPE=1'], { home: h })
    expect(p.code).toBe(2)
    expect(p.stderr).toContain('NOPE')
    await d.kill()
  })

  it('usage errors exit 2 with a hint; no daemon exits 3', async () => {
    const h = await home()
    const a = await cli(['frobnicate'], { home: h })
    expect(a.code).toBe(2)
    expect(a.stderr).toContain('unknown command')
    const b = await cli(['jobs', '--bogus'], { home: h })
    expect(b.code).toBe(2)
    expect(b.stderr).toContain('usage: cit-node jobs')
    const c = await cli(['show'], { home: h })
    expect(c.code).toBe(2)
    const d = await cli(['jobs'], { home: h })
    expect(d.code).toBe(3)
    expect(d.stderr).toContain('no daemon is running')
  })

  describe('with a daemon', () => {
    let h: string
    let daemon: Daemon

    beforeAll(async () => {
      h = await home()
      daemon = await startDaemon(h)
    })

    afterAll(async () => { await daemon?.kill() })

    it('status reports the daemon\'s pid and peer id; the identity and socket are owner-only', async () => {
      const s = JSON.parse((await cli(['status', '--json'], { home: h })).stdout)
      expect(s.pid).toBe(daemon.pid)
      expect(s.peerId).toMatch(/^12D3KooW/)
      const { stat } = await import('node:fs/promises')
      expect((await stat(join(h, 'identity.key'))).mode & 0o777).toBe(0o600)
      expect((await stat(join(h, 'control.sock'))).mode & 0o777).toBe(0o600)
    })

    it('submit --wait: show has events, usage, the log and artefacts, which fetch returns verified', async () => {
      const r = await cli(['submit', 'examples/build.yaml', '--wait', '--json'], { home: h })
      expect(r.code).toBe(0)
      const job = JSON.parse(r.stdout)
      expect(job.state).toBe('succeeded')
      expect(job.exitCode).toBe(0)
      expect(job.executor).toMatch(/^12D3KooW/)
      expect(job.events.map((e: any) => e.type)).toEqual(['submitted', 'started', 'finished'])
      for (const e of job.events) {
        expect(e.node).toBe(job.executor)
        expect(e.at).toBeGreaterThanOrEqual(job.submittedAt)
      }
      expect(job.usage.wallMs).toBeGreaterThan(0)
      expect(job.log).toMatch(/^[0-9a-f]{64}$/)
      expect(job.artefacts.map((a: any) => a.path)).toEqual(['dist/hello.tar.gz', 'report.xml'])

      const shown = JSON.parse((await cli(['show', job.id.slice(0, 10), '--json'], { home: h })).stdout)
      expect(shown.id).toBe(job.id)
      const byName = JSON.parse((await cli(['show', 'example-build', '--json'], { home: h })).stdout)
      expect(byName.id).toBe(job.id)

      const report = job.artefacts.find((a: any) => a.path === 'report.xml')
      const out = join(h, 'report-copy.xml')
      const f = await cli(['fetch', `sha256:${report.sha256}`, '-o', out], { home: h })
      expect(f.code).toBe(0)
      const bytes = await readFile(out)
      expect(sha256(bytes)).toBe(report.sha256)
      expect(bytes.byteLength).toBe(report.size)
      expect(bytes.toString()).toContain('<testsuite name="hello"')

      const logs = await cli(['logs', job.id], { home: h })
      expect(logs.stdout).toContain('report.xml written')
      const cast = await cli(['fetch', job.log], { home: h })
      const lines = cast.stdout.trim().split('\n')
      expect(JSON.parse(lines[0]).version).toBe(2)
    })

    it('params: --param overrides a default and reaches the steps as an environment variable', async () => {
      const r = await cli(['submit', 'examples/params.yaml', '--param', 'GREETING=howdy', '--follow'], { home: h })
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('howdy, world!')
    })

    it('logs --replay plays the recording at its pace, scaled by --speed', async () => {
      const file = join(h, 'paced.yaml')
      await writeFile(file, 'name: paced\nstages:\n  - steps:\n      - echo first-line; sleep 1; echo second-line\n')
      const { id } = JSON.parse((await cli(['submit', file, '--wait', '--json'], { home: h })).stdout)
      const started = Date.now()
      const r = await cli(['logs', id, '--replay', '--speed', '2'], { home: h })
      const took = Date.now() - started
      expect(r.code).toBe(0)
      expect(r.stdout.indexOf('first-line')).toBeLessThan(r.stdout.indexOf('second-line'))
      // the one-second pause, halved, is kept (a lower bound: slow machines only make it longer)
      expect(took).toBeGreaterThanOrEqual(450)
      expect((await cli(['logs', id, '--replay', '--speed', '0'], { home: h })).code).toBe(2)
    })

    it('logs --follow streams a running job live, and cancel stops it', async () => {
      const file = join(h, 'slow.yaml')
      await writeFile(file, 'name: slow\nstages:\n  - steps:\n      - echo started-slow; sleep 60; echo never\n')
      const sub = await cli(['submit', file, '--json'], { home: h })
      const { id } = JSON.parse(sub.stdout)
      await waitFor(async () => JSON.parse((await cli(['show', id, '--json'], { home: h })).stdout).state === 'running', { what: 'the job to run' })
      const follow = cli(['logs', id, '--follow'], { home: h })
      await waitFor(async () => (await cli(['logs', id], { home: h })).stdout.includes('started-slow'), { what: 'live output' })
      const c = await cli(['cancel', id, '--json'], { home: h })
      expect(c.code).toBe(0)
      const done = await follow
      expect(done.stdout).toContain('started-slow')
      expect(done.stdout).not.toContain('never')
      const job = await waitFor(async () => {
        const j = JSON.parse((await cli(['show', id, '--json'], { home: h })).stdout)
        return j.state === 'cancelled' ? j : undefined
      }, { what: 'the job to be cancelled' })
      expect(job.events.map((e: any) => e.type)).toContain('cancel-requested')
    })

    it('a corrupt blob is never served: fetch fails naming the hash', async () => {
      const r = JSON.parse((await cli(['submit', 'examples/params.yaml', '--wait', '--json'], { home: h })).stdout)
      const path = join(h, 'blobs', 'sha256', r.log.slice(0, 2), r.log)
      await chmod(path, 0o644)
      const bytes = await readFile(path)
      bytes[bytes.length - 2] ^= 0xff
      await writeFile(path, bytes)
      const f = await cli(['fetch', r.log, '-o', join(h, 'bad.cast')], { home: h })
      expect(f.code).not.toBe(0)
      expect(f.stderr).toContain(r.log)
      const { access } = await import('node:fs/promises')
      await expect(access(join(h, 'bad.cast'))).rejects.toMatchObject({ code: 'ENOENT' })
    })
  })

  it('gc: blobs beyond the quota go least recently used first; the newest results of each name stay pinned', async () => {
    const h = await home()
    await writeFile(join(h, 'config.json'), JSON.stringify({ retention: { blobsBytes: 1, workspacesBytes: 0, keepResults: 1 } }))
    const d = await startDaemon(h)
    const file = join(h, 'rand.yaml')
    await writeFile(file, 'name: rand\nartefacts: [r.bin]\nstages:\n  - steps:\n      - head -c 100000 /dev/urandom > r.bin\n')
    const old = JSON.parse((await cli(['submit', file, '--wait', '--json'], { home: h })).stdout)
    const cur = JSON.parse((await cli(['submit', file, '--wait', '--json'], { home: h })).stdout)
    const report = JSON.parse((await cli(['gc', '--json'], { home: h })).stdout)
    expect(report.blobs.keptBytes).toBeGreaterThan(0)
    expect(report.workspaces.keptBytes).toBe(0)
    const has = async (hash: string): Promise<boolean> => (await cli(['fetch', hash], { home: h })).code === 0
    await waitFor(async () => !(await has(old.artefacts[0].sha256)), { what: 'the old artefact to be evicted' })
    expect(await has(old.log)).toBe(false)
    expect(await has(cur.artefacts[0].sha256)).toBe(true)
    expect(await has(cur.log)).toBe(true)
    await d.kill()
  })

  it('crash safety: after SIGKILL and restart, the running job is failed with a reason and the queued one runs', async () => {
    const h = await home()
    await writeFile(join(h, 'config.json'), JSON.stringify({ slots: 1 }))
    const d1 = await startDaemon(h)
    const long = join(h, 'long.yaml')
    await writeFile(long, 'name: long\nstages:\n  - steps:\n      - sleep 120\n')
    const a = JSON.parse((await cli(['submit', long, '--json'], { home: h })).stdout).id
    const b = JSON.parse((await cli(['submit', 'examples/params.yaml', '--json'], { home: h })).stdout).id
    await waitFor(async () => JSON.parse((await cli(['show', a, '--json'], { home: h })).stdout).state === 'running', { what: 'job a to run' })
    expect(JSON.parse((await cli(['show', b, '--json'], { home: h })).stdout).state).toBe('queued')
    await d1.kill('SIGKILL')
    const d2 = await startDaemon(h)
    const ja = await waitFor(async () => {
      const j = JSON.parse((await cli(['show', a, '--json'], { home: h })).stdout)
      return j.state === 'failed' ? j : undefined
    }, { what: 'job a recorded as failed' })
    expect(ja.reason).toContain('daemon stopped')
    const jb = await waitFor(async () => {
      const j = JSON.parse((await cli(['show', b, '--json'], { home: h })).stdout)
      return j.state === 'succeeded' ? j : undefined
    }, { what: 'job b to run after the restart' })
    expect(jb.exitCode).toBe(0)
    await d2.kill()
  })
})
