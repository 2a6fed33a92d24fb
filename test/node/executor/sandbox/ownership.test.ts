/**
 * Handing a workspace to another build user, as root, over files a job wrote: links are never
 * followed, files of others keep their owner, an owned workspace is not walked.
 */
import { link, lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { handOver } from '../../../../node/executor/sandbox/index.js'
import { chown } from 'node:fs/promises'

const OLD = 60_001
const NEW = 60_002
const GID = 60_100
const isBuildUid = (uid: number): boolean => uid === OLD || uid === NEW

describe('handOver', () => {
  let dir: string
  let outside: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cit-own-'))
    outside = await mkdtemp(join(tmpdir(), 'cit-own-out-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
    await rm(outside, { recursive: true, force: true })
  })

  it('gives what the old build user made (and the daemon\'s own directories) to the new one', async () => {
    const ws = join(dir, 'ws')
    await mkdir(join(ws, 'src/deep'), { recursive: true })
    await writeFile(join(ws, 'src/deep/a.c'), 'int main(){}')
    await writeFile(join(ws, 'legacy.txt'), 'from before the sandbox')
    await chown(join(ws, 'src'), OLD, GID)
    await chown(join(ws, 'src/deep'), OLD, GID)
    await chown(join(ws, 'src/deep/a.c'), OLD, GID)
    const report = await handOver(ws, { uid: NEW, gid: GID, isBuildUid, daemonUid: 0 })
    for (const p of ['', 'src', 'src/deep', 'src/deep/a.c', 'legacy.txt']) {
      expect((await lstat(join(ws, p))).uid).toBe(NEW)
    }
    expect(report.changed).toBe(5)
    // already theirs: nothing is walked, nothing changes
    await chown(join(ws, 'legacy.txt'), 0, 0)
    expect(await handOver(ws, { uid: NEW, gid: GID, isBuildUid, daemonUid: 0 })).toEqual({ changed: 0, kept: 0 })
    expect((await stat(join(ws, 'legacy.txt'))).uid).toBe(0)
  })

  it('never follows a link out of the workspace, and a hard link to a file of someone else keeps its owner', async () => {
    const ws = join(dir, 'ws')
    await mkdir(ws)
    const victim = join(outside, 'victim')
    await writeFile(victim, 'root owned')
    const victimDir = join(outside, 'dir')
    await mkdir(victimDir)
    await writeFile(join(victimDir, 'inner'), 'x')
    await symlink(victim, join(ws, 'link-to-file'))
    await symlink(victimDir, join(ws, 'link-to-dir'))
    // what `ln /etc/shadow x` in a job would leave (root makes it here: protected_hardlinks stops a build user)
    await link(victim, join(ws, 'hard'))
    await chown(ws, OLD, GID)
    const report = await handOver(ws, { uid: NEW, gid: GID, isBuildUid, daemonUid: 0 })
    expect((await stat(victim)).uid).toBe(0)
    expect((await stat(victimDir)).uid).toBe(0)
    expect((await stat(join(victimDir, 'inner'))).uid).toBe(0)
    // the links themselves are the new user's (lchown); the hard-linked file is not
    expect((await lstat(join(ws, 'link-to-file'))).uid).toBe(NEW)
    expect((await lstat(join(ws, 'hard'))).uid).toBe(0)
    expect(report.kept).toBe(1)
  })

  it('leaves files of users that are not build users alone', async () => {
    const ws = join(dir, 'ws')
    await mkdir(ws)
    await writeFile(join(ws, 'other'), 'x')
    await chown(join(ws, 'other'), 4321, 4321)
    await handOver(ws, { uid: NEW, gid: GID, isBuildUid, daemonUid: 0 })
    expect((await stat(join(ws, 'other'))).uid).toBe(4321)
    expect((await stat(ws)).uid).toBe(NEW)
  })
})
