/**
 * `network` in a job file: `none` cuts the job's network; the default (`host`) stays out of the
 * normal form so specs without the field are what they were, and a bad value is named by path.
 */
import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { inputKey, validateJobSpec } from '../../../protocols/job/index.js'
import { parseJobFile } from '../../../protocols/job/parse.js'

const base = { name: 'j', stages: [{ steps: ['true'] }] }

describe('job file: network', () => {
  it('none is kept; host (the default) is left out of the normal form', () => {
    expect(validateJobSpec({ ...base, network: 'none' }).spec?.network).toBe('none')
    const host = validateJobSpec({ ...base, network: 'host' }).spec!
    expect('network' in host).toBe(false)
    expect(encode(host)).toEqual(encode(validateJobSpec(base).spec!))
  })

  it('the normal form validates to itself', () => {
    const spec = validateJobSpec({ ...base, network: 'none' }).spec!
    expect(validateJobSpec(spec).spec).toStrictEqual(spec)
  })

  it('anything else is refused by its path, in a file with its line', () => {
    expect(validateJobSpec({ ...base, network: 'off' }).problems).toEqual([{ path: 'network', message: expect.stringContaining('host, none') }])
    expect(validateJobSpec({ ...base, network: false }).problems.map(p => p.path)).toEqual(['network'])
    const parsed = parseJobFile('name: j\nnetwork: bridge\nstages:\n  - steps:\n      - "true"\n')
    expect(parsed.problems).toEqual([expect.objectContaining({ path: 'network', line: 2 })])
  })

  it('is part of the input key only when it is none', () => {
    const plain = validateJobSpec(base).spec!
    const cut = validateJobSpec({ ...base, network: 'none' }).spec!
    expect(inputKey(validateJobSpec({ ...base, network: 'host' }).spec!, {})).toBe(inputKey(plain, {}))
    expect(inputKey(cut, {})).not.toBe(inputKey(plain, {}))
  })
})
