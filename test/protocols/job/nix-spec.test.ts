import { describe, expect, it } from 'vitest'
import { inputKey, validateEvent, validateJobSpec } from '../../../protocols/job/index.js'

const DRV = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-cit.drv'
const CLOSURE = 'c'.repeat(64)

describe('Nix job specs', () => {
  it('a Nix job validates, has no stages, and its normalised form validates to itself', () => {
    const { spec, problems } = validateJobSpec({ name: 'hello-cit', requires: { labels: ['nix'] }, cache: true, nix: { drv: DRV, closure: CLOSURE } })
    expect(problems).toEqual([])
    expect(spec).toMatchObject({ name: 'hello-cit', stages: [], artefacts: [], nix: { drv: DRV, closure: CLOSURE } })
    expect(validateJobSpec(spec).spec).toEqual(spec)
  })

  it('refuses a derivation path that is not a plain store path, and stages or hooks beside it', () => {
    for (const drv of ['hello.drv', '/nix/store/../etc/x.drv', `/nix/store/${'0'.repeat(32)}-x`, '--option', `/nix/store/${'0'.repeat(31)}-x.drv`, `/nix/store/${'e'.repeat(32)}-x.drv`]) {
      const r = validateJobSpec({ name: 'x', nix: { drv, closure: CLOSURE } })
      expect(r.problems.map(p => p.path), drv).toContain('nix.drv')
    }
    expect(validateJobSpec({ name: 'x', nix: { drv: DRV, closure: 'nope' } }).problems.map(p => p.path)).toEqual(['nix.closure'])
    const mixed = validateJobSpec({ name: 'x', nix: { drv: DRV, closure: CLOSURE }, stages: [{ steps: ['make'] }], onSuccess: 'x' })
    expect(mixed.problems.map(p => p.path).sort()).toEqual(['onSuccess', 'stages'])
  })

  it('the input key follows the derivation, not the closure export', () => {
    const a = validateJobSpec({ name: 'x', nix: { drv: DRV, closure: CLOSURE } }).spec!
    const b = validateJobSpec({ name: 'x', nix: { drv: DRV, closure: 'd'.repeat(64) } }).spec!
    const c = validateJobSpec({ name: 'x', nix: { drv: DRV.replace('hello', 'other'), closure: CLOSURE } }).spec!
    expect(inputKey(a, {})).toBe(inputKey(b, {}))
    expect(inputKey(a, {})).not.toBe(inputKey(c, {}))
  })

  it('a peer\'s result with malformed Nix outputs or provenance is dropped', () => {
    const base = { job: 'a'.repeat(64), type: 'finished', node: '12D3KooWabc', at: 1, state: 'succeeded' }
    const result = { state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 0, maxRssBytes: 0 }, log: 'b'.repeat(64), artefacts: [] }
    const output = { name: 'out', path: DRV.replace('.drv', ''), narHash: `sha256:${'1'.repeat(52)}`, closure: CLOSURE }
    expect(validateEvent({ ...base, result: { ...result, nix: { drv: DRV, outputs: [output] }, provenance: 'e'.repeat(64) } }).problem).toBeUndefined()
    expect(validateEvent({ ...base, result: { ...result, nix: { drv: DRV, outputs: [{ ...output, path: '/etc/passwd' }] } } }).problem).toMatch(/store path/)
    expect(validateEvent({ ...base, result: { ...result, nix: { drv: DRV, outputs: [{ ...output, closure: 'x' }] } } }).problem).toMatch(/closure/)
    expect(validateEvent({ ...base, result: { ...result, provenance: 'nope' } }).problem).toMatch(/provenance/)
    expect(validateEvent({ ...base, result: { ...result, rebuild: { of: 'a'.repeat(64), statement: 'e'.repeat(64), matched: 'yes', mismatches: [] } } }).problem).toMatch(/matched/)
  })
})
