import { describe, expect, it } from 'vitest'
import { cgroupDir, parseMountinfo, parseProcCgroup } from '../../../node/executor/cgroup-detect.js'
import { keyedValue } from '../../../node/executor/cgroup.js'
import { parseStat } from '../../../node/executor/procs.js'

const MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '39 31 0:36 /kubepods/pod1 /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '50 23 8:1 / /data\\040dir rw - ext4 /dev/sda1 rw'
].join('\n')

describe('cgroup detection', () => {
  it('reads cgroup mounts from mountinfo, v1 controllers and v2', () => {
    const mounts = parseMountinfo(MOUNTINFO)
    expect(mounts.map(m => [m.mountPoint, m.fsType])).toEqual([
      ['/sys/fs/cgroup/cpu,cpuacct', 'cgroup'], ['/sys/fs/cgroup/pids', 'cgroup'], ['/sys/fs/cgroup/unified', 'cgroup2']
    ])
    expect(mounts[0].superOptions).toContain('cpuacct')
  })

  it('maps each controller to the process\'s cgroup path', () => {
    const own = parseProcCgroup('4:cpu,cpuacct:/user.slice\n8:pids:/kubepods/pod1/c1\n0::/init.scope\n')
    expect(own.get('cpuacct')).toBe('/user.slice')
    expect(own.get('cpu')).toBe('/user.slice')
    expect(own.get('pids')).toBe('/kubepods/pod1/c1')
    expect(own.get('')).toBe('/init.scope')
  })

  it('finds the directory of a cgroup under a mount whose root is not /', () => {
    const [cpu, pids] = parseMountinfo(MOUNTINFO)
    expect(cgroupDir(cpu, '/user.slice')).toBe('/sys/fs/cgroup/cpu,cpuacct/user.slice')
    expect(cgroupDir(pids, '/kubepods/pod1/c1')).toBe('/sys/fs/cgroup/pids/c1')
    expect(cgroupDir(pids, '/kubepods/pod1')).toBe('/sys/fs/cgroup/pids')
    expect(cgroupDir(pids, '/elsewhere')).toBeUndefined()
  })

  it('reads flat-keyed cgroup files and /proc/<pid>/stat', () => {
    expect(keyedValue('max 3\n', 'max')).toBe(3)
    expect(keyedValue('oom 0\noom_kill 2\n', 'oom_kill')).toBe(2)
    expect(keyedValue('usage_usec 10', 'max')).toBeUndefined()
    const st = parseStat(42, '42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 555 1000 10')
    expect(st).toMatchObject({ pid: 42, state: 'S', ppid: 1, pgrp: 42, session: 42, ticks: 10, startTime: 555 })
  })
})
