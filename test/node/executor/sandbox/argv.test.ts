/**
 * The sandbox's command lines as data: what bubblewrap mounts, in which order, and how a step
 * enters the sandbox and drops its privileges.
 */
import { describe, expect, it } from 'vitest'
import {
  enterArgs, holderArgs, mountArgs, sandboxPathProblem, SANDBOX_WORKSPACE, USERNS_UID, visibleAfter
} from '../../../../node/executor/sandbox/index.js'
import type { RootEntry } from '../../../../node/executor/sandbox/mounts.js'

const programs = { bwrap: '/usr/bin/bwrap', nsenter: '/usr/bin/nsenter', setpriv: '/usr/bin/setpriv', sh: '/bin/sh' }
const topLevel: RootEntry[] = [
  { name: 'usr', kind: 'dir' },
  { name: 'bin', kind: 'symlink', target: 'usr/bin' },
  { name: 'etc', kind: 'dir' },
  { name: 'root', kind: 'dir' },
  { name: 'home', kind: 'dir' },
  { name: 'srv', kind: 'dir' },
  { name: 'proc', kind: 'dir' },
  { name: 'dev', kind: 'dir' },
  { name: 'tmp', kind: 'dir' },
  { name: 'workspace', kind: 'dir' },
  { name: 'sock', kind: 'other' },
  { name: '.dockerenv', kind: 'file' }
]

/** the pairs `--flag A B` of a bwrap argument list, for flags taking two arguments */
function pairs (args: string[], flag: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  args.forEach((a, i) => { if (a === flag) out.push([args[i + 1], args[i + 2]]) })
  return out
}
const index = (args: string[], ...seq: string[]): number => args.findIndex((_, i) => seq.every((s, j) => args[i + j] === s))

describe('mountArgs', () => {
  const listings = new Map<string, RootEntry[]>([
    ['/', topLevel],
    ['/srv', [{ name: 'cit', kind: 'dir' }, { name: 'www', kind: 'dir' }, { name: 'motd', kind: 'file' }]],
    ['/home', [{ name: 'ci', kind: 'dir' }, { name: 'alice', kind: 'dir' }]],
    ['/home/ci', [{ name: '.cache', kind: 'dir' }, { name: '.cargo', kind: 'dir' }, { name: '.bashrc', kind: 'file' }]]
  ])
  const base = { listings: new Map([['/', topLevel]]), hidden: [], readOnly: [], secret: [], workspace: '/srv/cit/workspaces/libfoo', dev: 'full' as const }

  it('binds every top-level entry read-only, recreates symlinks, and makes /dev, /proc, /tmp and /workspace itself', () => {
    const args = mountArgs(base)
    expect(pairs(args, '--ro-bind').map(p => p[1])).toEqual(['/.dockerenv', '/etc', '/home', '/root', '/srv', '/usr'])
    expect(pairs(args, '--symlink')).toEqual([['usr/bin', '/bin']])
    // the host's own /proc, /dev, /tmp and /workspace never show through; sockets at the top are left out
    for (const own of ['/proc', '/dev', '/tmp', '/workspace', '/sock']) expect(pairs(args, '--ro-bind').map(p => p[1])).not.toContain(own)
    expect(index(args, '--dev', '/dev')).toBeGreaterThan(-1)
    expect(index(args, '--proc', '/proc')).toBeGreaterThan(-1)
    expect(index(args, '--perms', '1777', '--tmpfs', '/tmp')).toBeGreaterThan(-1)
    expect(pairs(args, '--bind')).toEqual([['/srv/cit/workspaces/libfoo', SANDBOX_WORKSPACE]])
    // bind mounts are writable only for the workspace
    expect(args.filter(a => a === '--bind')).toHaveLength(1)
  })

  it('a hidden path does not exist: the directories leading to it are rebuilt from their other entries', () => {
    const args = mountArgs({ ...base, listings, secret: [{ path: '/srv/cit', kind: 'dir' }], hidden: [{ path: '/home/ci', kind: 'dir' }] })
    const bound = pairs(args, '--ro-bind').map(p => p[1])
    expect(bound).toEqual(expect.arrayContaining(['/srv/www', '/srv/motd', '/home/alice', '/usr']))
    for (const gone of ['/srv', '/srv/cit', '/home', '/home/ci']) expect(bound).not.toContain(gone)
    expect(index(args, '--dir', '/srv')).toBeGreaterThan(-1)
    expect(index(args, '--dir', '/home')).toBeGreaterThan(-1)
    // not covered either: simply absent
    expect(args).not.toContain('/srv/cit')
    expect(index(args, '--bind', '/srv/cit/workspaces/libfoo', SANDBOX_WORKSPACE)).toBeGreaterThan(-1)
  })

  it('read-only paths come back inside hidden ones; a top-level hidden path is never bound', () => {
    const args = mountArgs({
      ...base,
      listings,
      hidden: [{ path: '/root', kind: 'dir' }, { path: '/home/ci', kind: 'dir' }],
      readOnly: [{ path: '/root/.rustup', kind: 'dir' }, { path: '/home/ci/.cargo', kind: 'dir' }]
    })
    const bound = pairs(args, '--ro-bind').map(p => p[1])
    expect(bound).not.toContain('/root')
    expect(bound).toEqual(expect.arrayContaining(['/root/.rustup', '/home/ci/.cargo']))
    expect(bound).not.toContain('/home/ci/.cache')
    expect(bound).not.toContain('/home/ci/.bashrc')
  })

  it('without a listing (a huge directory) the directory is bound whole and the hidden path covered, the secret last', () => {
    const args = mountArgs({
      ...base,
      hidden: [{ path: '/home/ci', kind: 'dir' }, { path: '/etc/secret.conf', kind: 'file' }],
      readOnly: [{ path: '/home/ci/.cargo', kind: 'dir' }, { path: '/srv/cit/tools', kind: 'dir' }],
      secret: [{ path: '/srv/cit', kind: 'dir' }]
    })
    const cover = index(args, '--tmpfs', '/home/ci')
    const cargo = index(args, '--ro-bind', '/home/ci/.cargo', '/home/ci/.cargo')
    const secret = index(args, '--tmpfs', '/srv/cit')
    expect(index(args, '--ro-bind', '/home', '/home')).toBeGreaterThan(-1)
    expect(cover).toBeGreaterThan(-1)
    expect(cargo).toBeGreaterThan(cover)
    expect(secret).toBeGreaterThan(cargo)
    expect(index(args, '--ro-bind', '/dev/null', '/etc/secret.conf')).toBeGreaterThan(-1)
  })

  it('does not cover what is already out of sight (that would leave its name behind)', () => {
    const args = mountArgs({
      ...base,
      hidden: [{ path: '/home/ci', kind: 'dir' }, { path: '/home/ci/.cache', kind: 'dir' }],
      secret: [{ path: '/tmp/cit-home', kind: 'dir' }],
      readOnly: [{ path: '/tmp/fixtures', kind: 'dir' }]
    })
    expect(index(args, '--tmpfs', '/home/ci')).toBeGreaterThan(-1)
    expect(index(args, '--tmpfs', '/home/ci/.cache')).toBe(-1)
    expect(index(args, '--tmpfs', '/tmp/cit-home')).toBe(-1)
    // inside the job's own /tmp a read-only path is bound over it
    expect(index(args, '--ro-bind', '/tmp/fixtures', '/tmp/fixtures')).toBeGreaterThan(index(args, '--tmpfs', '/tmp'))
  })

  it('a minimal /dev without a pty allocator for user namespaces', () => {
    const args = mountArgs({ ...base, dev: 'minimal' })
    expect(index(args, '--dev', '/dev')).toBe(-1)
    expect(index(args, '--tmpfs', '/dev')).toBeGreaterThan(-1)
    expect(pairs(args, '--dev-bind').map(p => p[1])).toEqual(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'])
  })

  it('visibleAfter: the deepest mount covering a path decides', () => {
    const ops = [{ kind: 'empty' as const, dest: '/' }, { kind: 'bind' as const, dest: '/srv' }, { kind: 'empty' as const, dest: '/srv/a' }, { kind: 'bind' as const, dest: '/srv/a/b' }]
    expect(visibleAfter(ops, '/srv/x')).toBe(true)
    expect(visibleAfter(ops, '/srv/a/x')).toBe(false)
    expect(visibleAfter(ops, '/srv/a/b/c')).toBe(true)
    expect(visibleAfter(ops, '/opt')).toBe(false)
  })
})

describe('sandboxPathProblem (config paths)', () => {
  it.each([
    ['/opt/sdk', undefined],
    ['/root/.rustup', undefined],
    ['opt/sdk', 'absolute'],
    ['/', 'whole'],
    ['/tmp', '/tmp'],
    ['/opt/../etc', 'normal'],
    ['/opt//sdk', 'normal'],
    ['/opt/sdk/', 'normal'],
    ['/proc/1', 'inside /proc'],
    ['/workspace/x', 'inside /workspace'],
    ['/a\0b', 'NUL'],
    [42, 'text']
  ])('%s', (path, problem) => {
    const got = sandboxPathProblem(path)
    if (problem === undefined) expect(got).toBeUndefined()
    else expect(got).toContain(problem)
  })
})

describe('holderArgs and enterArgs', () => {
  it('build users: no user namespace, no capability for the payload; a step drops to the build user with nothing left', () => {
    const { options, command } = holderArgs(programs, { mode: 'build-users', network: 'host', mounts: ['--proc', '/proc'] })
    expect(options).toContain('--unshare-pid')
    expect(options).toContain('--unshare-ipc')
    expect(options).not.toContain('--unshare-user')
    expect(options).not.toContain('--unshare-net')
    expect(index(options, '--cap-drop', 'ALL')).toBeGreaterThan(-1)
    expect(options).toContain('--die-with-parent')
    expect(index(options, '--info-fd', '3')).toBeGreaterThan(-1)
    expect(command[0]).toBe('/bin/sh')
    const enter = enterArgs(programs, { mode: 'build-users', network: 'host', initPid: 4242, account: { uid: 990, gid: 980, name: 'cit-build-3' } })
    expect(enter.slice(0, 2)).toEqual(['/usr/bin/nsenter', '--target=4242'])
    expect(enter).toEqual(expect.arrayContaining(['--mount', '--pid', '--ipc', `--wdns=${SANDBOX_WORKSPACE}`]))
    expect(enter).not.toContain('--net')
    expect(enter).not.toContain('--user')
    expect(enter).toEqual(expect.arrayContaining(['--reuid=990', '--regid=980', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs']))
    // setpriv execs the step's shell itself (appended after `--`): no env in between
    expect(enter.slice(-2)).toEqual(['--no-new-privs', '--'])
  })

  it('user namespace and network none: the job is USERNS_UID there, and steps enter the net namespace', () => {
    const { options } = holderArgs(programs, { mode: 'user-namespace', network: 'none', mounts: [] })
    expect(index(options, '--unshare-user', '--uid', String(USERNS_UID))).toBeGreaterThan(-1)
    expect(options).toContain('--unshare-net')
    const enter = enterArgs(programs, { mode: 'user-namespace', network: 'none', initPid: 7, account: { uid: USERNS_UID, gid: USERNS_UID, name: 'cit-build' } })
    expect(enter).toEqual(expect.arrayContaining(['--user', '--preserve-credentials', '--net', '--no-new-privs']))
    expect(enter.some(a => a.startsWith('--reuid'))).toBe(false)
  })
})
