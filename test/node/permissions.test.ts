/**
 * The home, its key and its control socket must be the daemon's alone: loose modes, a foreign
 * owner or a directory on the way that others may write are refused, each problem named.
 */
import { chmod, chown, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ensureHome, homePaths } from '../../node/home.js'
import { checkHome, checkSocket } from '../../node/permissions.js'

describe('home permissions', () => {
  let base: string
  beforeEach(async () => { base = await mkdtemp(join(tmpdir(), 'cit-perm-')) })
  afterEach(async () => { await rm(base, { recursive: true, force: true }) })

  const refused = async (p: Promise<unknown>): Promise<string[]> => {
    try {
      await p
    } catch (err: any) {
      expect(err.code).toBe('ERR_HOME_PERMISSIONS')
      return err.problems.map((x: { path: string }) => x.path)
    }
    throw new Error('not refused')
  }

  it('a home the daemon creates is 0700 and passes; its key at 0600 too', async () => {
    const paths = await ensureHome(join(base, 'a', 'home'))
    await writeFile(paths.identity, 'k', { mode: 0o600 })
    await checkHome(paths)
  })

  it('refuses a home others may enter, and does not quietly fix it', async () => {
    const paths = await ensureHome(join(base, 'home'))
    await chmod(paths.root, 0o755)
    await ensureHome(paths.root)
    expect(await refused(checkHome(paths))).toEqual([paths.root])
  })

  it('refuses a key others may read, a key that is a symlink, and a key of another user', async () => {
    const paths = await ensureHome(join(base, 'home'))
    await writeFile(paths.identity, 'k', { mode: 0o644 })
    expect(await refused(checkHome(paths))).toEqual([paths.identity])
    await rm(paths.identity)
    await writeFile(join(base, 'elsewhere'), 'k', { mode: 0o600 })
    await symlink(join(base, 'elsewhere'), paths.identity)
    expect(await refused(checkHome(paths))).toEqual([paths.identity])
    await rm(paths.identity)
    await writeFile(paths.identity, 'k', { mode: 0o600 })
    await chown(paths.identity, 4321, 4321)
    expect(await refused(checkHome(paths))).toEqual([paths.identity])
  })

  it('refuses a directory on the way that others may write (unless sticky, like /tmp)', async () => {
    const shared = join(base, 'shared')
    await mkdir(shared)
    await chmod(shared, 0o777)
    const paths = await ensureHome(join(shared, 'home'))
    expect(await refused(checkHome(paths))).toEqual([shared])
    await chmod(shared, 0o1777)
    await checkHome(paths)
    const foreign = join(base, 'foreign')
    await mkdir(foreign)
    await chown(foreign, 4321, 4321)
    expect(await refused(checkHome(await ensureHome(join(foreign, 'home'))))).toEqual([foreign])
  })

  it('refuses a control socket others may connect to', async () => {
    const paths = homePaths(await mkdtemp(join(base, 'h-')))
    const server = createServer()
    await new Promise<void>(resolve => server.listen(paths.socket, resolve))
    try {
      await chmod(paths.socket, 0o600)
      await checkSocket(paths.socket)
      await chmod(paths.socket, 0o666)
      expect(await refused(checkSocket(paths.socket))).toEqual([paths.socket])
    } finally {
      server.close()
    }
  })
})
