import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LoadSampler } from '../../../node/load/sampler.js'
import { tempHome } from '../../helpers/cli.js'

describe('LoadSampler', () => {
  const temps: Array<{ cleanup: () => Promise<void> }> = []
  afterEach(async () => { for (const t of temps.splice(0)) await t.cleanup() })

  it('reports the labels, slots and state as they are at each sample, and the workspaces on disk that hold something', async () => {
    const t = await tempHome('cit-load-')
    temps.push(t)
    const workspacesDir = join(t.dir, 'workspaces')
    await mkdir(join(workspacesDir, 'libfoo_main'), { recursive: true })
    await writeFile(join(workspacesDir, 'libfoo_main', 'build.o'), 'x')
    // an empty workspace (a job that wrote nothing there) saves a build nothing: not reported
    await mkdir(join(workspacesDir, 'echo_only'), { recursive: true })
    await mkdir(join(workspacesDir, '.tmp'), { recursive: true })
    const config = { labels: ['linux'] }
    let state: 'active' | 'paused' = 'active'
    let running: string[] = []
    const sampler = new LoadSampler({
      slots: () => ({ slots: 2, free: 2 - running.length, running }),
      state: () => state,
      labels: () => config.labels,
      loadLimit: 3
    }, { workspacesDir })
    const first = sampler.sample()
    expect(first).toMatchObject({ labels: ['linux'], slots: 2, slotsFree: 2, running: [], state: 'active', loadLimit: 3, workspaces: ['libfoo_main'] })
    expect(first.cores).toBeGreaterThan(0)
    // Nix found later replaces the label list: the next sample says so (a stale copy kept Nix jobs waiting)
    config.labels = [...config.labels, 'nix']
    state = 'paused'
    running = ['j1']
    expect(sampler.sample()).toMatchObject({ labels: ['linux', 'nix'], slotsFree: 1, running: ['j1'], state: 'paused' })
  })
})
