/**
 * The Nix builder with the real Nix from Debian and a real blob store: what a failing, a
 * cancelled and a timed-out build leave behind. The executor behind it is a stub that must never
 * be called: only Nix jobs come here.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FsBlobStore } from '../../../store/blobs/index.js'
import { silentLogger } from '../../../store/logger.js'
import { NixBuilds, NixTool } from '../../../node/nix/index.js'
import { validateJobSpec } from '../../../protocols/job/index.js'
import { tempHome } from '../../helpers/cli.js'
import type { JobSpec } from '../../../protocols/job/index.js'

const NONCE = randomBytes(6).toString('hex')
// a builder's PATH is unset; Debian's Nix builds outside a sandbox, so the host's sleep is reached
// by its full path (a bare `sleep` would fail at once and the build would succeed)
const SLEEP = execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim()

describe('NixBuilds', () => {
  let t: { dir: string, cleanup: () => Promise<void> }
  let blobs: FsBlobStore
  const tool = new NixTool()
  let builds: NixBuilds

  const drvOf = async (name: string, script: string): Promise<string> => {
    const file = join(t.dir, `${name}.nix`)
    await writeFile(file, `derivation { name = "${name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" ${JSON.stringify(script)} ]; nonce = "${NONCE}"; }\n`)
    return await tool.instantiate(file)
  }
  const specOf = (name: string, drv: string, timeoutMs?: number): JobSpec => {
    const { spec, problems } = validateJobSpec({ name, nix: { drv, closure: 'f'.repeat(64) }, ...(timeoutMs != null ? { timeoutMs } : {}) })
    expect(problems).toEqual([])
    return spec!
  }
  const blobCount = async (): Promise<number> => { let n = 0; for await (const _ of blobs.list()) n++; return n }
  const logText = async (hash: string): Promise<string> => (await readFile(blobs.pathOf(hash), 'utf8'))

  beforeAll(async () => {
    expect(await tool.version()).toMatch(/^\d/)
    t = await tempHome('cit-nixb-')
    blobs = new FsBlobStore({}, { dir: join(t.dir, 'blobs') })
    await blobs.start()
    builds = new NixBuilds({
      inner: { run: async () => { throw new Error('not a Nix job: the executor must not see it') } },
      tool,
      blobs,
      ensureLocal: async () => undefined,
      logger: silentLogger
    }, { tmpDir: join(t.dir, 'nix') })
  })
  afterAll(async () => { await blobs?.stop(); await t?.cleanup() })

  it('a derivation whose builder fails: the job fails with the build log, and nothing is exported', async () => {
    const drv = await drvOf('failing-cit', 'echo about to fail-$0; exit 3')
    const before = await blobCount()
    const r = await builds.run({ jobId: 'j1', spec: specOf('failing-cit', drv), params: {} })
    expect(r.outcome).toBe('failed')
    expect(r.exitCode).not.toBe(0)
    expect(r.reason).toMatch(/nix-store --realise exited/)
    expect(r.nix).toEqual({ drv, outputs: [] })
    expect(await logText(r.log)).toContain('about to fail')
    // the recording is the one new blob
    expect(await blobCount()).toBe(before + 1)
  }, 60_000)

  it('a build that is cancelled or runs past its timeout is stopped, and exports nothing', async () => {
    const slow = await drvOf('slow-cit', `${SLEEP} 60 && echo done > $out`)
    const ac = new AbortController()
    const chunks: string[] = []
    const running = builds.run({ jobId: 'j2', spec: specOf('slow-cit', slow), params: {}, signal: ac.signal, onOutput: d => { chunks.push(Buffer.from(d).toString()) } })
    const started = Date.now()
    setTimeout(() => { ac.abort(new Error('stop it')) }, 1000)
    const r = await running
    expect(r.outcome).toBe('cancelled')
    expect(r.reason).toBe('cancelled: stop it')
    expect(r.nix?.outputs).toEqual([])
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(chunks.join('')).toContain('nix-store --realise')
    const timed = await builds.run({ jobId: 'j3', spec: specOf('slow-cit', slow, 1500), params: {} })
    expect(timed.outcome).toBe('timed-out')
    expect(timed.nix?.outputs).toEqual([])
  }, 60_000)

  it('a derivation missing here whose closure cannot be had fails the job with the reason', async () => {
    const spec = specOf('absent-cit', `/nix/store/${'0'.repeat(32)}-absent-cit.drv`)
    const r = await builds.run({ jobId: 'j4', spec, params: {} })
    expect(r.outcome).toBe('failed')
    expect(r.reason).toMatch(/ffffffff/)
    expect(await logText(r.log)).toContain('fetching the derivation')
  }, 30_000)
})
