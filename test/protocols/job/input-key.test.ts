import { describe, expect, it } from 'vitest'
import { inputKey, resolveParams } from '../../../protocols/job/index.js'
import { parseJobFile } from '../../../protocols/job/parse.js'
import type { JobSpec } from '../../../protocols/job/types.js'

const BASE = `name: k
priority: 1
timeout: 10m
requires: { labels: [linux, x86], cores: 2, memory: 1G }
params: { TARGET: { default: all } }
onStart: echo start
stages:
  - title: build
    onFailure: echo failed
    steps:
      - { title: make, command: make $TARGET }
artefacts: [ "dist/*" ]
`

function keyOf (text: string, overrides: Record<string, string> = {}): string {
  const { spec, problems } = parseJobFile(text)
  expect(problems).toEqual([])
  const resolved = resolveParams(spec as JobSpec, overrides)
  expect(resolved.problems).toEqual([])
  return inputKey(spec as JobSpec, resolved.values)
}

describe('inputKey', () => {
  const base = keyOf(BASE)

  it('is 64 lowercase hex digits and stable', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/)
    expect(keyOf(BASE)).toBe(base)
  })

  it('does not depend on key order, label order, or how a value was written', () => {
    const reordered = `artefacts: [ "./dist/*" ]
stages:
  - steps:
      - { command: make $TARGET, title: make }
    onFailure: echo failed
    title: build
onStart: echo start
params: { TARGET: all }
requires: { memory: 1024M, cores: 2, labels: [x86, linux, linux] }
timeout: 600
priority: 1
name: k
`
    expect(keyOf(reordered)).toBe(base)
  })

  it('ignores name, priority, timeout, supersede and cache', () => {
    const changed = BASE.replace('name: k', 'name: other').replace('priority: 1', 'priority: 9').replace('timeout: 10m', 'timeout: 2h') +
      'supersede: none\ncache: true\n'
    expect(keyOf(changed)).toBe(base)
  })

  it.each([
    ['a command', BASE.replace('make $TARGET', 'make -j2 $TARGET')],
    ['ignoreExitCode', BASE.replace('command: make $TARGET }', 'command: make $TARGET, ignoreExitCode: true }')],
    ['a hook', BASE.replace('echo failed', 'echo FAILED')],
    ['a job hook added', BASE + 'onSuccess: echo ok\n'],
    ['a param default', BASE.replace('default: all', 'default: check')],
    ['a requirement', BASE.replace('cores: 2', 'cores: 4')],
    ['a label', BASE.replace('[linux, x86]', '[linux]')],
    ['an artefact glob', BASE.replace('"dist/*"', '"dist/**"')],
    ['a stage added', BASE.replace('artefacts:', '  - steps: [echo]\nartefacts:')]
  ])('changes with %s', (_what, text) => {
    expect(keyOf(text)).not.toBe(base)
  })

  it('changes with a param value given by --param, and not when the override equals the default', () => {
    expect(keyOf(BASE, { TARGET: 'check' })).not.toBe(base)
    expect(keyOf(BASE, { TARGET: 'all' })).toBe(base)
  })

  it('treats an undefined hook like an absent one', () => {
    const { spec } = parseJobFile(BASE)
    const withUndefined = { ...(spec as JobSpec), onSuccess: undefined }
    expect(inputKey(withUndefined, { TARGET: 'all' })).toBe(base)
  })
})
