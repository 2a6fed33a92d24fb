/**
 * A run its sandbox refuses: the cgroup is made while the sandbox is set up, so a refusal must
 * take the cgroup away again. Real cgroups where this machine has them.
 */
import { readdir } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { detectCgroups, RUN_GROUP_PATTERN } from '../../../node/executor/cgroup-detect.js'
import { makeFixture, spec, stage } from './helpers.js'
import type { Fixture } from './helpers.js'

/** this process's run groups under every parent the executor makes them in */
async function ownGroups (): Promise<string[]> {
  const support = await detectCgroups({})
  const parents = support.mode === 'v2' ? [support.parent] : support.mode === 'v1' ? Object.values(support.parents) : []
  const out: string[] = []
  for (const parent of parents) {
    for (const name of await readdir(parent)) {
      const m = RUN_GROUP_PATTERN.exec(name)
      if (m != null && Number(m[1]) === process.pid) out.push(`${parent}/${name}`)
    }
  }
  return out
}

describe('Executor: a run refused while its sandbox is set up', () => {
  let fx: Fixture
  beforeEach(async () => { fx = await makeFixture({ cgroups: true }) })
  afterEach(async () => { await fx.cleanup() })

  it('runs nothing and leaves no cgroup behind', async () => {
    const support = await detectCgroups({})
    const before = await ownGroups()
    // no sandbox on this executor: a job that asks for no network is refused at the sandbox step
    const result = await fx.executor.run({ jobId: 'n1', spec: spec('no-net', [stage('s', [['mark', 'touch marker']])], { network: 'none' }), params: {} })
    expect(result.outcome).toBe('failed')
    expect(result.reason).toMatch(/network: none needs a sandbox/)
    expect(await ownGroups()).toEqual(before)
    // and a run after it gets its cgroup as before (the refused one did not break the executor's cgroups)
    const ok = await fx.executor.run({ jobId: 'n2', spec: spec('with-net', [stage('s', [['cg', 'cat /proc/self/cgroup']])]), params: {} })
    expect(ok.outcome).toBe('succeeded')
    expect(await ownGroups()).toEqual(before)
    expect(support.mode).not.toBe('none')
  })
})
