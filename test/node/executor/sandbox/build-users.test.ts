/**
 * Build users: handed out one per running job, the workspace's owner preferred, created with
 * useradd when all are busy; a name another daemon just took, or a locked /etc/passwd, is not
 * a failure. The last test creates real users (the tests run as root).
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { BuildUsers, parseBuildUsers } from '../../../../node/executor/sandbox/index.js'
import type { CommandResult } from '../../../../node/executor/sandbox/build-users.js'

/** a fake machine: a passwd text that useradd appends to */
function machine (initial: string[] = []): { users: BuildUsers, calls: string[][], passwd: string[], results: Array<CommandResult | undefined> } {
  const passwd = [...initial]
  const calls: string[][] = []
  const results: Array<CommandResult | undefined> = []
  let nextUid = 900
  const users = new BuildUsers({
    passwd: async () => passwd.join('\n'),
    sleep: async () => {},
    run: async (file, args) => {
      calls.push([file, ...args])
      const forced = results.shift()
      if (forced !== undefined) return forced
      if (file.endsWith('useradd')) passwd.push(`${args.at(-1)!}:x:${nextUid++}:990::/nonexistent:/usr/sbin/nologin`)
      return { code: 0, stderr: '' }
    }
  })
  return { users, calls, passwd, results }
}

describe('BuildUsers', () => {
  it('parses only well-formed cit-build-N entries, never uid 0', () => {
    const parsed = parseBuildUsers([
      'root:x:0:0:root:/root:/bin/bash',
      'cit-build-1:x:901:990::/nonexistent:/usr/sbin/nologin',
      'cit-build-02:x:902:990::/nonexistent:/usr/sbin/nologin',
      'cit-build-3:x:0:0::/:/bin/sh',
      'cit-build-x:x:904:990::/:/bin/sh',
      'cit-build-4:x:904:990::/nonexistent:/usr/sbin/nologin'
    ].join('\n'))
    expect([...parsed.keys()]).toEqual([1, 4])
    expect(parsed.get(1)).toEqual({ name: 'cit-build-1', uid: 901, gid: 990 })
  })

  it('one user per running job; the workspace owner first; the lowest free otherwise; created when all are busy', async () => {
    const m = machine(['cit-build-1:x:901:990::/:/bin/false', 'cit-build-2:x:902:990::/:/bin/false'])
    await m.users.load()
    const a = await m.users.acquire(902)
    expect(a.user.name).toBe('cit-build-2')
    const b = await m.users.acquire(902)
    expect(b.user.name).toBe('cit-build-1')
    expect(m.calls).toEqual([])
    const c = await m.users.acquire()
    expect(c.user.name).toBe('cit-build-3')
    expect(m.calls.map(cmd => cmd[0].split('/').at(-1))).toEqual(['groupadd', 'useradd'])
    const useradd = m.calls[1]
    expect(useradd).toEqual(expect.arrayContaining(['--system', '--no-create-home', '--gid', 'cit-build', 'cit-build-3']))
    expect(m.users.isBuildUid(c.user.uid)).toBe(true)
    expect(m.users.isBuildUid(0)).toBe(false)
    b.release()
    b.release()
    expect((await m.users.acquire()).user.name).toBe('cit-build-1')
  })

  it('acquisitions at the same moment get different users and create each user once', async () => {
    const m = machine()
    await m.users.load()
    const leases = await Promise.all([m.users.acquire(), m.users.acquire(), m.users.acquire()])
    expect(new Set(leases.map(l => l.user.name))).toEqual(new Set(['cit-build-1', 'cit-build-2', 'cit-build-3']))
    expect(m.calls.filter(c => c[0].endsWith('useradd'))).toHaveLength(3)
  })

  it('a name another daemon took meanwhile is used; a locked /etc/passwd is tried again; other failures say what failed', async () => {
    const m = machine()
    await m.users.load()
    // groupadd: the group exists (9); useradd: locked (10) once, then it works
    m.results.push({ code: 9, stderr: 'group exists' }, { code: 10, stderr: 'cannot lock /etc/passwd' })
    expect((await m.users.acquire()).user.name).toBe('cit-build-1')
    expect(m.calls.filter(c => c[0].endsWith('useradd'))).toHaveLength(2)
    m.results.push({ code: 0, stderr: '' }, { code: 1, stderr: 'useradd: something else' })
    await expect(m.users.acquire()).rejects.toMatchObject({ code: 'ERR_SANDBOX_UNAVAILABLE' })
  })

  it('creates real system users with no login shell, and finds them again (users from an earlier run are fine)', async () => {
    const users = new BuildUsers()
    await users.load()
    const a = await users.acquire()
    const b = await users.acquire()
    expect(a.user.name).toMatch(/^cit-build-\d+$/)
    expect(b.user.uid).not.toBe(a.user.uid)
    for (const u of [a.user, b.user]) {
      expect(u.uid).toBeGreaterThan(0)
      const entry = execFileSync('getent', ['passwd', u.name]).toString().trim().split(':')
      expect(Number(entry[2])).toBe(u.uid)
      expect(entry[6]).toMatch(/nologin|false/)
      expect(execFileSync('getent', ['group', 'cit-build']).toString()).toContain(`:${u.gid}:`)
    }
    a.release()
    b.release()
    const again = new BuildUsers()
    await again.load()
    expect(again.known.map(u => u.name)).toEqual(expect.arrayContaining([a.user.name, b.user.name]))
  })
})
