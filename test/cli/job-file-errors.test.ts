import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli, tempHome } from '../helpers/cli.js'

describe('job file errors: the first real cause, on its line, with the fix', () => {
  let t: { dir: string, cleanup: () => Promise<void> }
  beforeAll(async () => { t = await tempHome() })
  afterAll(async () => { await t?.cleanup() })

  const validate = async (name: string, text: string): Promise<{ code: number | null, lines: string[], json: any }> => {
    const file = join(t.dir, name)
    await writeFile(file, text)
    const human = await cli(['validate', file], { home: t.dir })
    const json = JSON.parse((await cli(['validate', file, '--json'], { home: t.dir })).stdout)
    return { code: human.code, lines: human.stderr.trim().split('\n').slice(1).map(l => l.trim()), json }
  }

  it('an unquoted command with { and [ in a step mapping: one problem, its line, the line quoted, the cascade counted', async () => {
    const r = await validate('flow.yaml', [
      'name: zlib',
      'stages:',
      '  - title: build',
      '    steps:',
      '      - { title: configure, command: cd zlib && { [ -f Makefile ] || ./configure; } && make }',
      '      - make test',
      '  - title: check',
      '    steps:',
      '      - echo ok',
      ''
    ].join('\n'))
    expect(r.code).toBe(2)
    expect(r.lines).toHaveLength(1)
    expect(r.lines[0]).toMatch(/^\S+flow\.yaml:5:\d+: /)
    expect(r.lines[0]).toContain("command: '…'")
    expect(r.lines[0]).toMatch(/\d+ more errors? after it/)
    expect(r.json.problems).toHaveLength(1)

    const plain = await validate('plain.yaml', 'name: zlib\nstages:\n  - steps:\n      - title: configure\n        command: { [ -f Makefile ] || ./configure; } && make\n')
    expect(plain.lines).toHaveLength(1)
    expect(plain.lines[0]).toMatch(/plain\.yaml:5:\d+: /)
    expect(plain.lines[0]).toContain("write command: '{ [ -f Makefile ] || ./configure; } && make'")
  })

  it('`- echo failed: see log` is one problem with the quoting hint, not an unknown field plus a missing command', async () => {
    const r = await validate('colon.yaml', 'name: colon\nstages:\n  - steps:\n      - make\n      - echo failed: see log\n')
    expect(r.code).toBe(2)
    expect(r.lines).toEqual([expect.stringMatching(/colon\.yaml:5:9: stages\[0\]\.steps\[1\]: .*quote it whole, - 'echo failed: see log'$/)])
    expect(r.lines[0]).not.toContain('unknown field')
    // the quoted form it proposes is valid
    const fixed = await validate('fixed.yaml', "name: colon\nstages:\n  - steps:\n      - make\n      - 'echo failed: see log'\n")
    expect(fixed.code).toBe(0)
  })

  it('problems are listed in the order of the file', async () => {
    const r = await validate('order.yaml', 'name: bad job\ntimeout: soon\nstages:\n  - title: a\n    steps:\n      - { title: x }\n  - steps:\n      - echo hi\n    onFailur: x\npriority: high\n')
    const lines = r.lines.map(l => Number(/order\.yaml:(\d+):/.exec(l)?.[1]))
    expect(lines).toEqual([1, 2, 6, 9, 10])
    expect(r.json.problems.map((p: string) => Number(/:(\d+):\d+:/.exec(p)?.[1]))).toEqual([1, 2, 6, 9, 10])
  })
})
