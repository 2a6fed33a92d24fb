import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Registry, isAlive, pollUntil, runCommand } from '../../bench/procs.js'
import { CpuWindow, cpuMs, residentBytes, rssBytes } from '../../bench/machine.js'

describe('the bench process registry', () => {
  it('stops what it started by pid, SIGKILL after the grace period, and removes its temp dirs', async () => {
    const registry = new Registry()
    const dir = registry.tempDir('cbt-')
    // a child that ignores SIGTERM: only the SIGKILL after the grace period ends it
    const child = registry.spawn('stubborn', process.execPath, ['-e', 'process.on("SIGTERM",()=>{});setInterval(()=>{},1000)'], { detached: true, stdio: 'ignore' })
    const pid = child.pid!
    await pollUntil(() => isAlive(pid), { timeoutMs: 5000, intervalMs: 20, what: 'the child' })
    expect(registry.running.map(r => r.pid)).toContain(pid)
    await registry.cleanup(300)
    expect(isAlive(pid)).toBe(false)
    expect(existsSync(dir)).toBe(false)
    expect(registry.running).toEqual([])
  })

  it('runCommand is bounded in time', async () => {
    const registry = new Registry()
    const r = await runCommand(registry, '/bin/sh', ['-c', 'sleep 30'], { timeoutMs: 200 })
    expect(r.code).not.toBe(0)
    expect(r.ms).toBeLessThan(5000)
    const ok = await runCommand(registry, '/bin/sh', ['-c', 'echo hi'], { timeoutMs: 5000 })
    expect(ok).toMatchObject({ code: 0, stdout: 'hi\n' })
  })

  it('pollUntil gives up at its deadline naming what it waited for', async () => {
    await expect(pollUntil(() => false, { timeoutMs: 100, intervalMs: 10, what: 'godot' })).rejects.toThrow(/godot/)
  })

  it('reads RSS and CPU time from /proc', async () => {
    expect(rssBytes(process.pid)).toBeGreaterThan(10 * 1024 * 1024)
    // the anonymous and file-backed parts make up the whole (shared memory, the third part, is ~0 here)
    const mem = residentBytes(process.pid)
    expect(mem.anon).toBeGreaterThan(1024 * 1024)
    expect(mem.file).toBeGreaterThan(1024 * 1024)
    expect(Math.abs(mem.rss - mem.anon - mem.file)).toBeLessThan(4 * 1024 * 1024)
    const registry = new Registry()
    const busy = registry.spawn('busy', process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' })
    try {
      const window = new CpuWindow([busy.pid!])
      window.start()
      // a deliberate fixed wait: the CPU window must span some time to measure anything
      await new Promise(resolve => setTimeout(resolve, 500))
      // a spinning process uses a good part of a core (the machine may be shared)
      expect(window.finish().get(busy.pid!)).toBeGreaterThan(10)
      expect(cpuMs(busy.pid!)).toBeGreaterThan(0)
    } finally {
      await registry.cleanup(1000)
    }
  })
})
