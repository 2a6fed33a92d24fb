import { execFile } from 'node:child_process'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, killAllDaemons, startDaemon, tempHome } from '../helpers/cli.js'
import { validateEvent } from '../../protocols/job/announcement.js'
import { homePaths } from '../../node/home.js'
import { BlobLayout } from '../../store/blobs/layout.js'
import type { Daemon } from '../helpers/cli.js'

describe('artefacts keep their file mode', () => {
  let home: { dir: string, cleanup: () => Promise<void> }
  let daemon: Daemon

  beforeAll(async () => {
    home = await tempHome()
    daemon = await startDaemon(home.dir)
  })

  afterAll(async () => {
    await daemon?.kill()
    await killAllDaemons()
    await home?.cleanup()
  })

  it('the manifest records each file\'s mode; fetch -o JOB:PATH restores it, never a setuid bit', async () => {
    const file = join(home.dir, 'modes.yaml')
    await writeFile(file, [
      'name: modes',
      'artefacts: [prog, data.txt, suid]',
      'stages:',
      '  - steps:',
      `      - printf '#!/bin/sh\\necho it runs\\n' > prog && chmod 755 prog`,
      '      - echo secret > data.txt && chmod 640 data.txt',
      `      - cp prog suid && chmod 4755 suid`,
      ''
    ].join('\n'))
    const r = await cli(['submit', file, '--wait', '--json'], { home: home.dir })
    expect(r.code).toBe(0)
    const job = JSON.parse(r.stdout)
    const modes = Object.fromEntries(job.artefacts.map((a: any) => [a.path, a.mode]))
    expect(modes).toEqual({ prog: 0o755, 'data.txt': 0o640, suid: 0o755 })

    const prog = join(home.dir, 'prog-copy')
    const f = await cli(['fetch', `${job.id as string}:prog`, '-o', prog, '--json'], { home: home.dir })
    expect(f.code).toBe(0)
    expect(JSON.parse(f.stdout).mode).toBe(0o755)
    expect((await stat(prog)).mode & 0o7777).toBe(0o755)
    expect((await promisify(execFile)(prog)).stdout).toBe('it runs\n')

    const data = join(home.dir, 'data-copy')
    expect((await cli(['fetch', `${job.id as string}:data.txt`, '-o', data], { home: home.dir })).code).toBe(0)
    expect((await stat(data)).mode & 0o7777).toBe(0o640)
    const suid = join(home.dir, 'suid-copy')
    expect((await cli(['fetch', `${job.id as string}:suid`, '-o', suid], { home: home.dir })).code).toBe(0)
    expect((await stat(suid)).mode & 0o7777).toBe(0o755)

    // show lists the mode
    expect((await cli(['show', job.id], { home: home.dir })).stdout).toMatch(/0755\s+\S+ B\s+prog/)
  })

  it('a peer\'s result whose artefact mode carries more than permission bits is refused', () => {
    const base = { job: 'a'.repeat(64), type: 'finished', node: '12D3KooWabc', at: 1, state: 'succeeded' }
    const result = (mode: unknown): unknown => ({ state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log: 'b'.repeat(64), artefacts: [{ path: 'x', sha256: 'c'.repeat(64), size: 1, mode }] })
    expect(validateEvent({ ...base, result: result(0o755) }).problem).toBeUndefined()
    expect(validateEvent({ ...base, result: result(0o4755) }).problem).toBe('artefact mode is not permission bits')
    expect(validateEvent({ ...base, result: result(-1) }).problem).toBe('artefact mode is not permission bits')
    expect(validateEvent({ ...base, result: result('755') }).problem).toBe('artefact mode is not permission bits')
  })

  it('fetch -o reads the store\'s file itself and still refuses bytes that do not hash to the name', async () => {
    const file = join(home.dir, 'one.yaml')
    await writeFile(file, ['name: one', 'artefacts: [out.bin]', 'stages:', '  - steps:', '      - head -c 300000 /dev/urandom > out.bin', ''].join('\n'))
    const r = await cli(['submit', file, '--wait', '--json'], { home: home.dir })
    expect(r.code).toBe(0)
    const hash: string = JSON.parse(r.stdout).artefacts[0].sha256
    const good = join(home.dir, 'good.bin')
    expect((await cli(['fetch', hash, '-o', good], { home: home.dir })).code).toBe(0)
    const stored = new BlobLayout(homePaths(home.dir).blobs).blobPath(hash)
    expect(Buffer.compare(await readFile(good), await readFile(stored))).toBe(0)

    // the stored file rots on disk: the copy is refused and nothing is left at the destination
    const bytes = await readFile(stored)
    bytes[1234] ^= 0xff
    await chmod(stored, 0o600)
    await writeFile(stored, bytes)
    const bad = join(home.dir, 'bad.bin')
    const f = await cli(['fetch', hash, '-o', bad, '--json'], { home: home.dir })
    expect(f.code).not.toBe(0)
    expect(f.stderr + f.stdout).toContain('ERR_HASH_MISMATCH')
    expect(existsSync(bad)).toBe(false)
  })
})
