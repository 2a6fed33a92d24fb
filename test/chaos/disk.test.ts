import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { FsBlobStore } from '../../store/blobs/index.js'
import { cli, startDaemon, tempHome, waitFor } from '../helpers/cli.js'
import { ControlClient } from '../../cli/client.js'
import { report } from '../fuzz/harness.js'
import type { Daemon } from '../helpers/cli.js'

const run = promisify(execFile)

/** mount a tmpfs of `bytes` on `dir` (root only); false when this machine does not let us */
async function mountTmpfs (dir: string, bytes: number): Promise<boolean> {
  if (process.getuid?.() !== 0) return false
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir])
    return true
  } catch {
    return false
  }
}

async function unmount (dir: string): Promise<void> {
  await run('umount', [dir]).catch(async () => await run('umount', ['-l', dir]).catch(() => {}))
}

/** can this run mount a tmpfs? (decided once: the tests that need it are skipped otherwise) */
async function probe (): Promise<boolean> {
  const t = await tempHome('cit-probe-')
  try {
    const ok = await mountTmpfs(t.dir, 1 << 20)
    if (ok) await unmount(t.dir)
    return ok
  } finally {
    await t.cleanup()
  }
}
const CAN_MOUNT = await probe()

/** every file under `dir`, recursively, relative */
async function files (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name).slice(dir.length + 1))
  return out
}

/** no file under sha256/ holds anything but the bytes its name is the hash of */
async function everyBlobWhole (store: string): Promise<string[]> {
  const names = await files(join(store, 'sha256'))
  for (const name of names) {
    const hash = createHash('sha256').update(await readFile(join(store, 'sha256', name))).digest('hex')
    expect(name.endsWith(hash), `${name} holds other bytes than its name says`).toBe(true)
  }
  return names.map(n => n.split('/').pop()!)
}

describe('a full disk during a blob write', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
  })

  it('a source that fails with ENOSPC half-way: the put rejects with it, nothing is left, the store goes on', async () => {
    const t = await tempHome('cit-enospc-')
    cleanups.push(t.cleanup)
    const store = new FsBlobStore({}, { dir: t.dir })
    await store.start()
    cleanups.push(async () => { await store.stop() })
    async function * failing (): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(1 << 20).fill(1)
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
    }
    await expect(store.put(failing())).rejects.toMatchObject({ code: 'ENOSPC' })
    expect(await files(join(t.dir, 'tmp'))).toEqual([])
    expect(await files(join(t.dir, 'sha256'))).toEqual([])
    const ok = await store.put([new TextEncoder().encode('still works\n')])
    expect(await store.has(ok.hash)).toBe(true)
  })

  it.runIf(CAN_MOUNT)('a store on a 2 MiB tmpfs asked to keep 4 MiB: ERR_BLOB_WRITE_FAILED (ENOSPC), no partial blob, then it stores what fits', async () => {
    const t = await tempHome('cit-tmpfs-')
    cleanups.push(t.cleanup)
    expect(await mountTmpfs(t.dir, 2 << 20)).toBe(true)
    cleanups.push(async () => { await unmount(t.dir) })
    const store = new FsBlobStore({}, { dir: t.dir })
    await store.start()
    cleanups.push(async () => { await store.stop() })
    const big = new Uint8Array(4 << 20).fill(7)
    const err = await store.put([big.subarray(0, 1 << 20), big.subarray(1 << 20)]).catch((e: unknown) => e) as { code?: string, cause?: { code?: string } }
    expect(err.code).toBe('ERR_BLOB_WRITE_FAILED')
    expect(err.cause?.code).toBe('ENOSPC')
    expect(await files(join(t.dir, 'tmp'))).toEqual([])
    expect(await everyBlobWhole(t.dir)).toEqual([])
    const small = await store.put([new Uint8Array(512 * 1024).fill(3)])
    expect(await store.verify(small.hash)).toBe(true)
  })

  it.runIf(CAN_MOUNT)('a daemon whose blob store is on a full disk: the job fails naming the artefact and ENOSPC, nothing partial is kept, the next job runs', async () => {
    const t = await tempHome('cit-full-')
    cleanups.push(t.cleanup)
    const home = t.dir
    await writeFile(join(home, 'config.json'), JSON.stringify({ loadLimit: 1000, slots: 1 }))
    await mkdir(join(home, 'blobs'))
    expect(await mountTmpfs(join(home, 'blobs'), 4 << 20)).toBe(true)
    cleanups.push(async () => { await unmount(join(home, 'blobs')) })
    const daemon: Daemon = await startDaemon(home)
    cleanups.push(async () => { await daemon.kill('SIGKILL') })
    const api = new ControlClient(join(home, 'control.sock'), home)
    const jobFile = async (name: string, mib: number): Promise<string> => {
      const path = join(home, `${name}.yaml`)
      await writeFile(path, `name: ${name}\nartefacts: [out.bin]\nstages:\n  - steps:\n      - head -c ${mib * 1048576} /dev/urandom > out.bin\n`)
      return path
    }
    const t0 = Date.now()
    const big = JSON.parse((await cli(['submit', await jobFile('too-big', 8), '--wait', '--json'], { home })).stdout)
    expect(big.state).toBe('failed')
    expect(big.reason).toMatch(/out\.bin could not be stored: ERR_BLOB_WRITE_FAILED: ENOSPC/)
    expect(big.artefacts).toEqual([])
    // the recording was kept: the failure is on record with its log
    expect(big.log).toMatch(/^[0-9a-f]{64}$/)
    expect(await files(join(home, 'blobs', 'tmp'))).toEqual([])
    const kept = await everyBlobWhole(join(home, 'blobs'))
    expect(kept).toContain(big.log)
    // the daemon is the same process and goes on
    expect((await api.status()).pid).toBe(daemon.pid)
    const next = JSON.parse((await cli(['submit', await jobFile('fits', 1), '--wait', '--json'], { home })).stdout)
    expect(next.state).toBe('succeeded')
    expect(next.artefacts).toHaveLength(1)
    expect(await everyBlobWhole(join(home, 'blobs'))).toContain(next.artefacts[0].sha256)
    await waitFor(async () => (await api.status()).running.length === 0, { what: 'the daemon to be idle' })
    report('disk-full', { tmpfsBytes: 4 << 20, artefactBytes: 8 << 20, reason: big.reason, nextJob: next.state, ms: Date.now() - t0 })
    await rm(join(home, 'too-big.yaml'))
  }, 120_000)
})
