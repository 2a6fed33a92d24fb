import { describe, expect, it } from 'vitest'
import { cstDepth, prescan, valueDepthProblem } from '../../../protocols/job/guards.js'
import { Parser } from 'yaml'
import { MAX_DEPTH } from '../../../protocols/job/constants.js'

/** where the text first nests deeper than `depth`, or undefined */
function prescanDepth (text: string, depth: number): number | undefined {
  const excess = prescan(text, { depth, values: Number.MAX_SAFE_INTEGER })
  return excess?.offset
}

describe('prescan', () => {
  it('counts values and stops at the first one past the limit', () => {
    expect(prescan('a: [1, "2", \'3\', *x]\nb:\n  - {}\n  - |\n    text\n', { depth: 99, values: 11 })).toBeUndefined()
    expect(prescan('a: [1, "2", \'3\', *x]\nb:\n  - {}\n  - |\n    text\n', { depth: 99, values: 10 })).toEqual({ limit: 'values', offset: expect.any(Number) })
    expect(prescan('- {}\n'.repeat(100), { depth: 99, values: 150 })).toEqual({ limit: 'values', offset: 75 * 5 })
  })

  it('passes a normal job file', () => {
    const text = 'name: x\nrequires: { labels: [a], cores: 2 }\nstages:\n  - title: t\n    steps:\n      - { command: make }\n'
    expect(prescanDepth(text, 16)).toBeUndefined()
  })

  it('counts flow nesting and stops at the first token past the limit', () => {
    expect(prescanDepth('['.repeat(10) + ']'.repeat(10), 10)).toBeUndefined()
    // `a` and `:` count as two levels (the scan over-counts, never under), so the 9th [ is one too many
    expect(prescanDepth('a: ' + '['.repeat(11) + ']'.repeat(11), 10)).toBe(3 + 8)
  })

  it('does not count brackets inside quotes, comments or block scalars', () => {
    const text = 'a: "[[[[[[[[[["\nb: \'{{{{{{{{{{\'\n# [[[[[[[[[[[[\nc: |\n  [[[[[[[[[[[[\n  - - - - - - - - - - - - -\nd: 1\n'
    expect(prescanDepth(text, 4)).toBeUndefined()
  })

  it('counts block nesting by indentation and compact lists', () => {
    expect(prescanDepth('- '.repeat(20) + 'x', 10)).toBeDefined()
    const mapping = Array.from({ length: 20 }, (_, i) => ' '.repeat(i) + 'a:').join('\n')
    expect(prescanDepth(mapping, 10)).toBeDefined()
    expect(prescanDepth(Array.from({ length: 20 }, () => 'a: 1').join('\n'), 4)).toBeUndefined()
  })

  it('is not fooled by block scalars between the levels of a deep mapping', () => {
    const parts: string[] = []
    for (let i = 0; i < 50; i++) parts.push(`${' '.repeat(i)}t${i}: |\n${' '.repeat(i + 1)}x\n${' '.repeat(i)}k${i}:`)
    const text = parts.join('\n') + ' 1\n'
    expect(cstDepth([...new Parser().parse(text)], 1000)).toBeGreaterThanOrEqual(50)
    expect(prescanDepth(text, 40)).toBeDefined()
  })
})

describe('valueDepthProblem', () => {
  it('names the path of a value nested too deep', () => {
    let value: unknown = 1
    for (let i = 0; i < MAX_DEPTH; i++) value = { a: value }
    expect(valueDepthProblem(value)).toBeUndefined()
    expect(valueDepthProblem({ b: [value] })).toEqual({
      segments: ['b', 0, ...Array(MAX_DEPTH - 2).fill('a')],
      message: `nested deeper than ${MAX_DEPTH} levels`
    })
  })

  it('stops on a cycle', () => {
    const cycle: unknown[] = []
    cycle.push(cycle)
    expect(valueDepthProblem(cycle)?.message).toMatch(/nested deeper/)
  })
})
