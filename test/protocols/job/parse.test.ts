import { describe, expect, it } from 'vitest'
import { Lexer } from 'yaml'
import { readFile } from 'node:fs/promises'
import { JobFileError, formatProblem, formatProblems } from '../../../protocols/job/index.js'
import { parseJobFile } from '../../../protocols/job/parse.js'
import { MAX_DEPTH, MAX_JOB_FILE_BYTES } from '../../../protocols/job/constants.js'

/** the job file from DESIGN.md ("Jobs"), verbatim */
const DESIGN_EXAMPLE = `name: libfoo-tests          # the job's key: workspace reuse, supersede, history
priority: 0                 # higher runs first
timeout: 20m
requires: { labels: [linux], cores: 2, memory: 2G }
params:   { TARGET: { default: all }, TOKEN: { required: true } }   # become environment variables
supersede: waiting          # or: running (also cancel the running older one), none
cache: true                 # identical inputs → reuse the earlier result instead of running
onStart: echo start
onSuccess: ./notify ok
onFailure: ./notify failed
stages:
  - title: build
    onFailure: cat build.log
    steps:
      - { title: configure, command: ./configure }
      - { title: make, command: make -j2 }
  - title: test
    steps:
      - { title: unit, command: make test, ignoreExitCode: true }
artefacts: [ "dist/*.tar.gz", "report.xml" ]
`

const DESIGN_SPEC = {
  name: 'libfoo-tests',
  priority: 0,
  timeoutMs: 20 * 60_000,
  requires: { labels: ['linux'], cores: 2, memoryBytes: 2 * 1024 ** 3 },
  params: { TARGET: { required: false, default: 'all' }, TOKEN: { required: true } },
  supersede: 'waiting',
  cache: true,
  onStart: 'echo start',
  onSuccess: './notify ok',
  onFailure: './notify failed',
  stages: [
    {
      title: 'build',
      onFailure: 'cat build.log',
      steps: [
        { title: 'configure', command: './configure', ignoreExitCode: false },
        { title: 'make', command: 'make -j2', ignoreExitCode: false }
      ]
    },
    { title: 'test', steps: [{ title: 'unit', command: 'make test', ignoreExitCode: true }] }
  ],
  artefacts: ['dist/*.tar.gz', 'report.xml']
}

/**
 * Asserts that parsing `text` costs no more than a few times what yaml's lexer takes over the same
 * text in this process, just before: a bound against blow-ups (quadratic duplicate checks, alias
 * expansion, recursion take 100× and more), measured against a baseline so that a busy machine
 * slows both alike and never fails the test. (A job file's parse measured 2–7× its lexing.)
 */
function linear<T> (text: string, parse: (text: string) => T): T {
  let start = performance.now()
  for (const _ of new Lexer().lex(text.slice(0, MAX_JOB_FILE_BYTES + 1))) { /* lexing is the baseline */ }
  const lexMs = performance.now() - start
  start = performance.now()
  const result = parse(text)
  // the constant covers texts too small to time (an alias bomb is 600 bytes)
  expect(performance.now() - start).toBeLessThan(LINEAR_FACTOR * lexMs + 1000)
  return result
}
const LINEAR_FACTOR = 25

describe('parseJobFile: YAML', () => {
  it('parses the example in the design to the expected spec', () => {
    const { spec, problems } = parseJobFile(DESIGN_EXAMPLE)
    expect(problems).toEqual([])
    expect(spec).toStrictEqual(DESIGN_SPEC)
  })

  it('accepts a byte-order mark and step shorthand', () => {
    const { spec, problems } = parseJobFile('\uFEFFname: x\nstages:\n  - steps: [make, make check]\n')
    expect(problems).toEqual([])
    expect(spec?.stages[0].steps.map((s) => s.title)).toEqual(['make', 'make check'])
  })

  it('keeps a block scalar command intact', () => {
    const text = 'name: x\nstages:\n  - steps:\n      - command: |\n          echo one\n          echo two\n'
    expect(parseJobFile(text).spec?.stages[0].steps[0]).toStrictEqual({ title: 'echo one', command: 'echo one\necho two\n', ignoreExitCode: false })
  })

  it('names the line and column of a syntax error', () => {
    const { spec, problems } = parseJobFile('name: x\nstages:\n  - steps: [a, b\n  - title: y\n')
    expect(spec).toBeUndefined()
    expect(problems.length).toBeGreaterThan(0)
    expect(problems[0].path).toBe('')
    expect(problems[0].line).toBeGreaterThanOrEqual(3)
    expect(problems[0].column).toBeGreaterThan(0)
  })

  it('hints that a command with ": " must be quoted', () => {
    const { problems } = parseJobFile('name: x\nonFailure: echo "failed: oh no"\nstages:\n  - steps: [make]\n')
    expect(problems[0]).toMatchObject({ path: '', line: 2 })
    expect(problems[0].message).toContain('must be quoted whole')
  })

  it('refuses tabs as indentation with a position', () => {
    const { problems } = parseJobFile('name: x\nstages:\n\t- steps: [a]\n')
    expect(problems[0]).toMatchObject({ path: '', line: 3 })
  })

  it('refuses a repeated key (a duplicate param) by its path and line', () => {
    const text = 'name: x\nparams:\n  TOKEN: { required: true }\n  TOKEN: { default: a }\nstages: [ { steps: [a] } ]\n'
    const { spec, problems } = parseJobFile(text)
    expect(spec).toBeUndefined()
    expect(problems).toEqual([{ path: 'params.TOKEN', message: 'given more than once (keys must be unique)', line: 4, column: 3 }])
  })

  it('refuses more than one document', () => {
    const { problems } = parseJobFile('name: x\nstages: [ { steps: [a] } ]\n---\nname: y\n')
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatchObject({ path: '', line: 3 })
    expect(problems[0].message).toContain('more than one YAML document')
  })

  it('refuses an unknown tag', () => {
    const { problems } = parseJobFile('name: !secret x\nstages: [ { steps: [a] } ]\n')
    expect(problems[0]).toMatchObject({ path: '', line: 1, column: 7 })
  })

  it('says an empty file is empty', () => {
    for (const text of ['', '   \n', '# only a comment\n']) {
      expect(parseJobFile(text).problems).toEqual([{ path: '', message: 'the job file is empty' }])
    }
  })

  it('locates validation problems at their line: the key, or the parent when missing', () => {
    const text = [
      'name: x', // 1
      'timeout: soon', // 2
      'stages:', // 3
      '  - title: a', // 4
      '    stepz: []', // 5
      '    steps:', // 6
      '      - title: no command', // 7
      '      - make' // 8
    ].join('\n')
    const { problems } = parseJobFile(text, { filename: 'j.yaml' })
    expect(problems).toEqual([
      { path: 'timeout', message: 'not a duration (use e.g. 90s, 20m, 2h)', line: 2, column: 1 },
      { path: 'stages[0].stepz', message: 'unknown field (did you mean "steps"?)', line: 5, column: 5 },
      { path: 'stages[0].steps[0].command', message: 'required', line: 7, column: 9 }
    ])
    expect(formatProblem(problems[2], 'j.yaml')).toBe('j.yaml:7:9: stages[0].steps[0].command: required')
  })

  it('follows aliases when locating a problem', () => {
    const text = 'name: x\nstages:\n  - &s { steps: [a], bad: 1 }\n  - *s\n'
    const { problems } = parseJobFile(text)
    expect(problems.map((p) => [p.path, p.line])).toEqual([['stages[0].bad', 3], ['stages[1].bad', 3]])
  })

  it('reads YAML 1.2: yes is text, so cache: yes is a problem', () => {
    const { problems } = parseJobFile('name: x\ncache: yes\nstages: [ { steps: [a] } ]\n')
    expect(problems).toEqual([{ path: 'cache', message: 'must be true or false (unquoted, e.g. `cache: true`)', line: 2, column: 1 }])
  })
})

describe('parseJobFile: JSON', () => {
  const json = JSON.stringify({ name: 'j', timeout: '90s', stages: [{ steps: ['make', { title: 't', command: 'make test' }] }] }, null, '\t')

  it('reads JSON (tab-indented too) to the same spec as YAML', () => {
    const fromJson = parseJobFile(json, { filename: 'job.json' })
    expect(fromJson.problems).toEqual([])
    const fromYaml = parseJobFile('name: j\ntimeout: 90s\nstages:\n  - steps: [make, { title: t, command: make test }]\n')
    expect(fromJson.spec).toStrictEqual(fromYaml.spec)
    // without a .json name: starts with { so it is tried as JSON
    expect(parseJobFile(json).spec).toStrictEqual(fromYaml.spec)
  })

  it('refuses JSON that only YAML would read in a .json file, on one line', () => {
    const { problems } = parseJobFile('{\n  "name": tru,\n  "stages": []\n}', { filename: 'job.json' })
    expect(problems).toHaveLength(1)
    expect(problems[0].message).toMatch(/^not valid JSON: /)
    expect(problems[0].message).not.toContain('\n')
  })

  it('refuses invalid JSON in a .json file, with a position', () => {
    const { problems } = parseJobFile('{\n  "name": "j",\n  "stages" []\n}', { filename: 'job.JSON' })
    expect(problems).toHaveLength(1)
    expect(problems[0].message).toMatch(/^not valid JSON: /)
    expect(problems[0].line).toBe(3)
  })

  it('reads YAML flow style that starts with { as YAML', () => {
    const { spec, problems } = parseJobFile('{ name: j, stages: [ { steps: [make] } ] }')
    expect(problems).toEqual([])
    expect(spec?.name).toBe('j')
  })

  it('refuses a repeated key, which JSON.parse would silently accept', () => {
    const { problems } = parseJobFile('{"name": "a", "stages": [{"steps": ["x"]}], "name": "b"}')
    expect(problems).toEqual([{ path: 'name', message: 'given more than once (keys must be unique)', line: 1, column: 45 }])
  })
})

describe('parseJobFile: hostile input', () => {
  it('refuses an alias bomb quickly', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i)
      levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(',')}]`)
    }
    const { spec, problems } = linear(levels.join('\n') + '\n', parseJobFile)
    expect(spec).toBeUndefined()
    expect(problems).toHaveLength(1)
    expect(problems[0].message).toMatch(/^too many alias expansions/)
  })

  it('refuses an alias that contains itself', () => {
    const { problems } = parseJobFile('name: x\nstages: &s [ { steps: *s } ]\n')
    expect(problems.length).toBeGreaterThan(0)
    expect(problems[0].message).toMatch(/nested deeper than|alias/)
  })

  it.each([
    ['flow lists', (n: number) => '['.repeat(n) + ']'.repeat(n)],
    ['flow mappings', (n: number) => '{a: '.repeat(n) + '1' + '}'.repeat(n)],
    ['block lists', (n: number) => '- '.repeat(n) + 'x'],
    // indentation grows with depth: only the depths that fit in the size limit are built
    ['block mappings', (n: number) => n > 1400 ? '' : Array.from({ length: n }, (_, i) => ' '.repeat(i) + 'a:').join('\n') + ' 1'],
    ['JSON', (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)]
  ])('refuses deep nesting (%s) quickly, shallow or huge', (_kind, make) => {
    for (const depth of [MAX_DEPTH + 5, 1000, 100_000]) {
      const text = make(depth)
      if (text === '' || text.length > MAX_JOB_FILE_BYTES) continue
      const { spec, problems } = linear(text, parseJobFile)
      expect(spec).toBeUndefined()
      expect(problems).toHaveLength(1)
      expect(problems[0].message).toMatch(/nested (too deeply|deeper than)/)
    }
  })

  it('refuses deep nesting hidden behind block scalars', () => {
    // every level has a block scalar whose body could reset a naive column count
    const parts: string[] = []
    for (let i = 0; i < 400; i++) parts.push(`${' '.repeat(i)}t${i}: |\n${' '.repeat(i + 1)}x\n${' '.repeat(i)}k${i}:`)
    const { problems } = linear(parts.join('\n') + ' 1\n', parseJobFile)
    expect(problems).toHaveLength(1)
    expect(problems[0].message).toMatch(/nested (too deeply|deeper than)/)
  })

  it('accepts nesting up to the limit', () => {
    // stages[0].steps[0] is level 5: a 20-deep value inside an unknown field is reported as unknown, not too deep
    const deep = '['.repeat(20) + ']'.repeat(20)
    const { problems } = parseJobFile(`name: x\nextra: ${deep}\nstages: [ { steps: [a] } ]\n`)
    expect(problems).toEqual([{ path: 'extra', message: 'unknown field', line: 2, column: 1 }])
  })

  it.each([
    ['tiny collections', '- {}\n'.repeat(200_000)],
    ['empty lists', 'a: [' + '[],'.repeat(300_000) + ']']
  ])('refuses a megabyte of %s quickly, by counting values before parsing', (_what, text) => {
    const { problems } = linear(text, parseJobFile)
    expect(problems).toHaveLength(1)
    expect(problems[0].message).toMatch(/^more than 200000 values/)
  })

  it('handles a megabyte of keys in linear time (yaml\'s own duplicate check is quadratic: minutes)', () => {
    const text = Array.from({ length: 90_000 }, (_, i) => `k${i}: 1`).join('\n') + '\nk5: 2\n'
    const { problems } = linear(text, parseJobFile)
    expect(problems).toEqual([{ path: 'k5', message: 'given more than once (keys must be unique)', line: 90_001, column: 1 }])
  })

  it('refuses oversized text before parsing it', () => {
    const text = 'name: x\n' + '#'.repeat(MAX_JOB_FILE_BYTES)
    const { problems } = linear(text, parseJobFile)
    expect(problems).toEqual([{ path: '', message: `larger than the limit of ${MAX_JOB_FILE_BYTES} bytes (1 MiB)` }])
  })

  it('counts UTF-8 bytes, not characters', () => {
    const text = 'name: x\n#' + 'é'.repeat(MAX_JOB_FILE_BYTES / 2)
    expect(text.length).toBeLessThan(MAX_JOB_FILE_BYTES)
    expect(parseJobFile(text).problems[0].message).toMatch(/^larger than the limit/)
  })

  it('never throws, whatever the text', () => {
    const seeds = [DESIGN_EXAMPLE, JSON.stringify(DESIGN_SPEC)]
    let state = 42
    const random = (): number => { state = (state * 1103515245 + 12345) % 2 ** 31; return state / 2 ** 31 }
    for (let i = 0; i < 300; i++) {
      const seed = seeds[i % 2]
      const cut = Math.floor(random() * seed.length)
      const noise = String.fromCharCode(Math.floor(random() * 128))
      const text = seed.slice(0, cut) + noise + seed.slice(cut + 1, cut + 1 + Math.floor(random() * seed.length))
      const result = parseJobFile(text)
      expect(Array.isArray(result.problems)).toBe(true)
      expect(result.spec === undefined || result.problems.length === 0).toBe(true)
    }
    expect(parseJobFile(undefined as unknown as string).problems[0].message).toBe('the job file must be text')
  })
})

describe('JobFileError', () => {
  it('carries the problems and a stable code', () => {
    const { problems } = parseJobFile('name: x\nstages: []\n')
    const err = new JobFileError(problems, { filename: 'x.yaml' })
    expect(err.code).toBe('ERR_JOB_FILE')
    expect(err.problems).toBe(problems)
    expect(err.message).toBe('x.yaml:2:1: stages: must have at least one stage')
    expect(formatProblems(problems)).toBe('line 2:1: stages: must have at least one stage')
  })
})

describe('docs/job-file.md', () => {
  it('shows the design example, and every complete job in it parses; the wire form shown is what the first becomes', async () => {
    const doc = await readFile(new URL('../../../docs/job-file.md', import.meta.url), 'utf8')
    const blocks = [...doc.matchAll(/```(yaml|json)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }))
    const jobs = blocks.filter((b) => b.lang === 'yaml' && b.text.startsWith('name:'))
    expect(jobs.length).toBeGreaterThanOrEqual(2)
    expect(jobs.some((b) => b.text === DESIGN_EXAMPLE)).toBe(true)
    for (const job of jobs) expect(parseJobFile(job.text).problems).toEqual([])
    const wire = blocks.find((b) => b.lang === 'json')
    expect(JSON.parse(wire?.text ?? '')).toStrictEqual(parseJobFile(jobs[0].text).spec)
  })

  it('lists the error output the parser really gives', async () => {
    const doc = await readFile(new URL('../../../docs/job-file.md', import.meta.url), 'utf8')
    const bad = /this file:\n\n```\n([\s\S]*?)```\n\ngives:\n\n```\n([\s\S]*?)```/.exec(doc)
    expect(bad).not.toBeNull()
    const [, text, output] = bad as RegExpExecArray
    expect(formatProblems(parseJobFile(text).problems, 'job.yaml') + '\n').toBe(output)
  })
})
