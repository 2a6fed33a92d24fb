import { describe, expect, it } from 'vitest'
import { parseParamOverrides, resolveParams } from '../../../protocols/job/index.js'
import { parseJobFile } from '../../../protocols/job/parse.js'
import { MAX_PARAM_VALUE_LENGTH } from '../../../protocols/job/constants.js'
import type { JobSpec } from '../../../protocols/job/types.js'

function specWith (params: string): JobSpec {
  const { spec, problems } = parseJobFile(`name: p\nparams: ${params}\nstages: [ { steps: [env] } ]\n`)
  expect(problems).toEqual([])
  return spec as JobSpec
}

describe('parseParamOverrides', () => {
  it('reads NAME=VALUE, keeping = inside the value and allowing an empty one', () => {
    expect(parseParamOverrides(['A=1', 'URL=http://x/?a=b', 'EMPTY='])).toEqual({
      values: { A: '1', URL: 'http://x/?a=b', EMPTY: '' },
      problems: []
    })
  })

  it.each([
    ['A', '--param: expected NAME=VALUE, got "A"'],
    ['=x', '--param: expected NAME=VALUE, got "=x"'],
    ['1A=x', '--param 1A: not a valid param name'],
    ['MY-VAR=x', '--param MY-VAR: not a valid param name'],
    ['PATH=/tmp', '--param PATH: PATH is reserved'],
    ['CIT_X=1', '--param CIT_X: names starting with CIT_ are reserved'],
    ['A=a\0b', '--param A: must not contain a NUL character'],
    [`A=${'x'.repeat(MAX_PARAM_VALUE_LENGTH + 1)}`, `--param A: longer than ${MAX_PARAM_VALUE_LENGTH}`]
  ])('refuses %j', (arg, expected) => {
    const { values, problems } = parseParamOverrides([arg])
    expect(values).toEqual({})
    expect(problems).toHaveLength(1)
    expect(`${problems[0].path}: ${problems[0].message}`.startsWith(expected)).toBe(true)
  })

  it('refuses a name given twice', () => {
    expect(parseParamOverrides(['A=1', 'A=2']).problems).toEqual([{ path: '--param A', message: 'given more than once' }])
  })
})

describe('resolveParams', () => {
  const spec = specWith('{ TARGET: { default: all }, JOBS: 2, TOKEN: { required: true }, EXTRA: {} }')

  it('applies defaults and overrides; leaves out an optional param with no value', () => {
    expect(resolveParams(spec, { TOKEN: 's3cret', TARGET: 'check' })).toEqual({
      values: { TARGET: 'check', JOBS: '2', TOKEN: 's3cret' },
      problems: []
    })
    expect(resolveParams(spec, { TOKEN: '', EXTRA: 'x' }).values).toEqual({ TARGET: 'all', JOBS: '2', TOKEN: '', EXTRA: 'x' })
  })

  it('names a required param without a value, and how to give it', () => {
    expect(resolveParams(spec, {}).problems).toEqual([{ path: 'params.TOKEN', message: 'required, give --param TOKEN=...' }])
  })

  it('refuses an override the job does not declare, listing what it does declare', () => {
    expect(resolveParams(spec, { TOKEN: 'x', TARGT: 'y' }).problems).toEqual([
      { path: 'params.TARGT', message: 'unknown param (this job declares TARGET, JOBS, TOKEN, EXTRA)' }
    ])
    const none = specWith('{}')
    expect(resolveParams(none, { A: '1' }).problems).toEqual([{ path: 'params.A', message: 'unknown param (this job declares no params)' }])
  })

  it('does not mistake prototype names for declared params', () => {
    const { problems } = resolveParams(spec, { TOKEN: 'x', constructor: 'y', toString: 'z' })
    expect(problems.map((p) => p.path)).toEqual(['params.constructor', 'params.toString'])
  })

  it('checks overrides that came from a peer', () => {
    expect(resolveParams(spec, { TOKEN: 5 } as unknown as Record<string, string>).problems)
      .toEqual([{ path: 'params.TOKEN', message: 'must be text, not a number' }])
    expect(resolveParams(spec, ['x'] as unknown as Record<string, string>).problems[0].path).toBe('params')
  })
})
