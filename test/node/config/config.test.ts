/**
 * The sandbox settings of config.json: defaults, and every problem named by its dotted path.
 */
import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG, validateConfig } from '../../../node/config/config.js'

const problemsOf = (raw: unknown): Array<{ path: string, message: string }> => {
  try {
    validateConfig(raw)
  } catch (err: any) {
    expect(err.code).toBe('ERR_INVALID_INPUT')
    return err.problems
  }
  return []
}

describe('config: sandbox and allowUnisolated', () => {
  it('defaults: the sandbox on, no extra paths, other members\' jobs not run unisolated', () => {
    const cfg = validateConfig({})
    expect(cfg.sandbox).toEqual({ enabled: true, readOnlyPaths: [], hiddenPaths: [] })
    expect(cfg.allowUnisolated).toBe(false)
    // a config's objects are its own
    cfg.sandbox.readOnlyPaths.push('/x')
    expect(DEFAULT_CONFIG.sandbox.readOnlyPaths).toEqual([])
  })

  it('accepts what an operator writes', () => {
    const cfg = validateConfig({ sandbox: { enabled: false, readOnlyPaths: ['/root/.rustup', '/opt/sdk', '/opt/sdk'], hiddenPaths: ['/srv/secrets'] }, allowUnisolated: true })
    expect(cfg.sandbox).toEqual({ enabled: false, readOnlyPaths: ['/root/.rustup', '/opt/sdk'], hiddenPaths: ['/srv/secrets'] })
    expect(cfg.allowUnisolated).toBe(true)
  })

  it('names every problem by its path', () => {
    expect(problemsOf({ sandbox: 'off' })).toEqual([{ path: 'sandbox', message: 'must be an object' }])
    const problems = problemsOf({
      sandbox: { enabled: 'no', readOnlyPaths: ['relative/path', '/ok', '/a/../b', '/proc/1'], hiddenPaths: '/srv', extra: 1 },
      allowUnisolated: 'yes'
    })
    expect(problems.map(p => p.path).sort()).toEqual([
      'allowUnisolated', 'sandbox.enabled', 'sandbox.extra', 'sandbox.hiddenPaths',
      'sandbox.readOnlyPaths[0]', 'sandbox.readOnlyPaths[2]', 'sandbox.readOnlyPaths[3]'
    ])
    expect(problemsOf({ sandbox: { readOnlyPaths: Array.from({ length: 65 }, (_, i) => `/p${i}`) } })).toEqual([
      { path: 'sandbox.readOnlyPaths', message: 'at most 64 paths' }
    ])
  })
})
