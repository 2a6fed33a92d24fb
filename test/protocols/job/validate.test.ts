import { describe, expect, it } from 'vitest'
import { encode, decode } from 'cborg'
import { validateJobSpec } from '../../../protocols/job/index.js'
import {
  DEFAULT_TIMEOUT_MS, MAX_ARTEFACTS, MAX_COMMAND_LENGTH, MAX_LABELS, MAX_PARAMS, MAX_PROBLEMS, MAX_STAGES,
  MAX_STEPS_PER_STAGE, MAX_TITLE_LENGTH, SHORTHAND_TITLE_LENGTH
} from '../../../protocols/job/constants.js'
import type { JobSpec } from '../../../protocols/job/types.js'

/** a minimal valid job, with `patch` merged over it (undefined deletes a field) */
function job (patch: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = { name: 'j', stages: [{ steps: ['true'] }] }
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete base[k]
    else base[k] = v
  }
  return base
}

function stage (patch: Record<string, unknown>): Record<string, unknown> {
  return job({ stages: [{ steps: ['true'], ...patch }] })
}

function step (value: unknown): Record<string, unknown> {
  return job({ stages: [{ steps: [value] }] })
}

function lines (raw: unknown): string[] {
  return validateJobSpec(raw).problems.map((p) => `${p.path}: ${p.message}`)
}

describe('validateJobSpec: defaults and normal form', () => {
  it('fills every default for a minimal job', () => {
    const { spec, problems } = validateJobSpec(job())
    expect(problems).toEqual([])
    expect(spec).toStrictEqual({
      name: 'j',
      priority: 0,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      requires: { labels: [], cores: 1, memoryBytes: 0 },
      params: {},
      supersede: 'waiting',
      cache: false,
      stages: [{ title: 'stage 1', steps: [{ title: 'true', command: 'true', ignoreExitCode: false }] }],
      artefacts: []
    })
  })

  it('titles stages "stage N" by position and steps by their command', () => {
    const { spec } = validateJobSpec(job({ stages: [{ steps: ['a'] }, { title: 'named', steps: [{ command: 'b c' }] }, { steps: ['d'] }] }))
    expect(spec?.stages.map((s) => s.title)).toEqual(['stage 1', 'named', 'stage 3'])
    expect(spec?.stages[1].steps[0].title).toBe('b c')
  })

  it('makes a shorthand title from the first non-blank line, cut with an ellipsis', () => {
    const long = 'x'.repeat(200)
    const { spec } = validateJobSpec(job({ stages: [{ steps: ['\n  make   all\nmake install', long] }] }))
    expect(spec?.stages[0].steps[0]).toStrictEqual({ title: 'make all', command: '\n  make   all\nmake install', ignoreExitCode: false })
    const title = spec?.stages[0].steps[1].title ?? ''
    expect(Array.from(title)).toHaveLength(SHORTHAND_TITLE_LENGTH)
    expect(title.endsWith('…')).toBe(true)
  })

  it('titles a command of only control characters "step"', () => {
    expect(validateJobSpec(job({ stages: [{ steps: ['\u0007'] }] })).spec?.stages[0].steps[0].title).toBe('step')
  })

  it('leaves absent optional fields out instead of setting them undefined', () => {
    const { spec } = validateJobSpec(job({ onStart: 'echo hi', stages: [{ steps: ['true'], onFailure: 'echo bad' }] }))
    expect(Object.keys(spec as object)).not.toContain('onSuccess')
    expect(Object.keys(spec?.stages[0] as object).sort()).toEqual(['onFailure', 'steps', 'title'])
    expect(JSON.stringify(Object.values(spec as object))).not.toContain('undefined')
  })

  it('treats null as absent for optional fields (an empty YAML value)', () => {
    const { spec, problems } = validateJobSpec(job({ onStart: null, priority: null, stages: [{ title: null, steps: ['true'] }] }))
    expect(problems).toEqual([])
    expect(spec?.priority).toBe(0)
    expect(spec?.stages[0].title).toBe('stage 1')
    expect(Object.hasOwn(spec as object, 'onStart')).toBe(false)
  })

  it('validates its own output to itself (the wire form), also after CBOR', () => {
    const { spec } = validateJobSpec(job({
      timeout: '20m',
      requires: { labels: ['b', 'a', 'a'], cores: 2, memory: '2G' },
      params: { A: 'x', B: { required: true }, C: {} },
      onSuccess: 'echo ok',
      artefacts: ['./dist/*']
    }))
    expect(spec?.requires).toStrictEqual({ labels: ['a', 'b'], cores: 2, memoryBytes: 2 * 1024 ** 3 })
    expect(spec?.artefacts).toEqual(['dist/*'])
    const again = validateJobSpec(spec)
    expect(again.problems).toEqual([])
    expect(again.spec).toStrictEqual(spec)
    const viaCbor = validateJobSpec(decode(encode(spec)))
    expect(viaCbor.spec).toStrictEqual(spec)
  })

  it('is JSON-compatible: a JSON round trip changes nothing', () => {
    const { spec } = validateJobSpec(job({ params: { A: 1, B: true }, onFailure: 'x' }))
    expect(spec?.params).toStrictEqual({ A: { required: false, default: '1' }, B: { required: false, default: 'true' } })
    expect(JSON.parse(JSON.stringify(spec))).toStrictEqual(spec)
  })
})

// [what, raw value, expected "path: message" (prefix)]
const cases: Array<[string, unknown, string]> = [
  ['not a mapping', ['a'], ': a job must be a mapping'],
  ['empty', null, ': the job file is empty'],
  ['missing name', job({ name: undefined }), 'name: required'],
  ['name with a slash', job({ name: 'a/b' }), 'name: must be 1 to 128'],
  ['name ..', job({ name: '..' }), 'name: must be 1 to 128'],
  ['name .', job({ name: '.' }), 'name: must be 1 to 128'],
  ['name starting with -', job({ name: '-x' }), 'name: must be 1 to 128'],
  ['name with a space', job({ name: 'a b' }), 'name: must be 1 to 128'],
  ['name empty', job({ name: '' }), 'name: must be 1 to 128'],
  ['name too long', job({ name: 'a'.repeat(129) }), 'name: must be 1 to 128'],
  ['name a number', job({ name: 5 }), 'name: must be text, not a number'],
  ['unknown top-level field', job({ colour: 'red' }), 'colour: unknown field'],
  ['typo with a hint', job({ artifacts: [] }), 'artifacts: unknown field (did you mean "artefacts"?)'],
  ['priority a string', job({ priority: 'high' }), 'priority: must be a whole number, not text'],
  ['priority a fraction', job({ priority: 1.5 }), 'priority: must be a whole number'],
  ['priority out of range', job({ priority: 100000 }), 'priority: must be between -1000 and 1000'],
  ['timeout not a duration', job({ timeout: '20 minutes' }), 'timeout: not a duration (use e.g. 90s, 20m, 2h)'],
  ['timeout wrong unit order', job({ timeout: '30m1h' }), 'timeout: not a duration'],
  ['timeout a list', job({ timeout: [1] }), 'timeout: not a duration'],
  ['timeout zero', job({ timeout: 0 }), 'timeout: must be between 1s and 7d'],
  ['timeout too long', job({ timeout: '8d' }), 'timeout: must be between 1s and 7d'],
  ['timeout and timeoutMs', job({ timeout: '1m', timeoutMs: 60000 }), 'timeoutMs: give timeout or timeoutMs, not both'],
  ['timeoutMs fraction', job({ timeoutMs: 1000.5 }), 'timeoutMs: must be a whole number'],
  ['requires a list', job({ requires: [] }), 'requires: must be a mapping, not a list'],
  ['requires unknown field', job({ requires: { gpu: 1 } }), 'requires.gpu: unknown field'],
  ['requires.memory not a size', job({ requires: { memory: 'lots' } }), 'requires.memory: not a size'],
  ['requires.memory fraction of a byte', job({ requires: { memory: '1.5' } }), 'requires.memory: not a size'],
  ['requires.memory negative', job({ requires: { memory: -1 } }), 'requires.memory: not a size'],
  ['requires.memory too big', job({ requires: { memory: '65T' } }), 'requires.memory: must be at most 64T'],
  ['memory and memoryBytes', job({ requires: { memory: '1G', memoryBytes: 1 } }), 'requires.memoryBytes: give memory or memoryBytes, not both'],
  ['requires.cores zero', job({ requires: { cores: 0 } }), 'requires.cores: must be between 1 and 1024'],
  ['requires.cores a string', job({ requires: { cores: '2' } }), 'requires.cores: must be a whole number, not text'],
  ['requires.labels a string', job({ requires: { labels: 'linux' } }), 'requires.labels: must be a list, not text'],
  ['label with a space', job({ requires: { labels: ['ok', 'a b'] } }), 'requires.labels[1]: must be a label'],
  ['label a number', job({ requires: { labels: [1] } }), 'requires.labels[0]: must be a label'],
  ['too many labels', job({ requires: { labels: Array.from({ length: MAX_LABELS + 1 }, (_, i) => `l${i}`) } }), `requires.labels: at most ${MAX_LABELS} labels`],
  ['params a list', job({ params: ['A'] }), 'params: must be a mapping, not a list'],
  ['param name with a dash', job({ params: { 'MY-VAR': 'x' } }), 'params["MY-VAR"]: not a valid param name'],
  ['param name starting with a digit', job({ params: { '1X': 'x' } }), 'params["1X"]: not a valid param name'],
  ['param name PATH', job({ params: { PATH: 'x' } }), 'params.PATH: PATH is reserved'],
  ['param name HOME', job({ params: { HOME: 'x' } }), 'params.HOME: HOME is reserved'],
  ['param name CIT_', job({ params: { CIT_JOB: 'x' } }), 'params.CIT_JOB: names starting with CIT_ are reserved'],
  ['param name LD_PRELOAD', job({ params: { LD_PRELOAD: 'x' } }), 'params.LD_PRELOAD: names starting with LD_ are reserved'],
  ['param name too long', job({ params: { ['A'.repeat(65)]: 'x' } }), `params.${'A'.repeat(65)}: param names are at most 64`],
  ['param null', job({ params: { A: null } }), 'params.A: must be a value'],
  ['param a list', job({ params: { A: ['x'] } }), 'params.A: must be a value'],
  ['param unknown field', job({ params: { A: { defualt: 'x' } } }), 'params.A.defualt: unknown field (did you mean "default"?)'],
  ['param required not boolean', job({ params: { A: { required: 'yes' } } }), 'params.A.required: must be true or false'],
  ['param required with a default', job({ params: { A: { required: true, default: 'x' } } }), 'params.A: a required param cannot have a default'],
  ['param default a mapping', job({ params: { A: { default: { x: 1 } } } }), 'params.A.default: must be a value'],
  ['param default with NUL', job({ params: { A: { default: 'a\0b' } } }), 'params.A.default: must not contain a NUL'],
  ['too many params', job({ params: Object.fromEntries(Array.from({ length: MAX_PARAMS + 1 }, (_, i) => [`P${i}`, 'x'])) }), `params: at most ${MAX_PARAMS} params`],
  ['supersede unknown', job({ supersede: 'all' }), 'supersede: must be one of waiting, running, none'],
  ['cache yes', job({ cache: 'yes' }), 'cache: must be true or false'],
  ['hook not text', job({ onStart: ['a'] }), 'onStart: must be a command (text), not a list'],
  ['hook empty', job({ onSuccess: '  ' }), 'onSuccess: must not be empty'],
  ['missing stages', job({ stages: undefined }), 'stages: required'],
  ['stages a mapping', job({ stages: { a: 1 } }), 'stages: must be a list, not a mapping'],
  ['no stages', job({ stages: [] }), 'stages: must have at least one stage'],
  ['too many stages', job({ stages: Array.from({ length: MAX_STAGES + 1 }, () => ({ steps: ['x'] })) }), `stages: at most ${MAX_STAGES} stages`],
  ['stage a string', job({ stages: ['make'] }), 'stages[0]: must be a mapping, not text'],
  ['stage unknown field', stage({ stepz: [] }), 'stages[0].stepz: unknown field (did you mean "steps"?)'],
  ['stage title empty', stage({ title: '' }), 'stages[0].title: must not be empty'],
  ['stage title with a newline', stage({ title: 'a\nb' }), 'stages[0].title: must be one line'],
  ['stage title too long', stage({ title: 'x'.repeat(MAX_TITLE_LENGTH + 1) }), `stages[0].title: longer than ${MAX_TITLE_LENGTH}`],
  ['stage hook a number', stage({ onFailure: 3 }), 'stages[0].onFailure: must be a command (text), not a number'],
  ['stage without steps', job({ stages: [{ title: 'a' }] }), 'stages[0].steps: required'],
  ['stage with no steps', job({ stages: [{ steps: [] }] }), 'stages[0].steps: must have at least one step'],
  ['too many steps', job({ stages: [{ steps: Array.from({ length: MAX_STEPS_PER_STAGE + 1 }, () => 'x') }] }), `stages[0].steps: at most ${MAX_STEPS_PER_STAGE} steps`],
  ['step a number', step(5), 'stages[0].steps[0]: must be a command or a mapping with a command, not a number (quote it: "5")'],
  ['step false (YAML boolean)', step(false), 'stages[0].steps[0]: must be a command or a mapping with a command, not a boolean (quote it: "false")'],
  ['step list', step(['a']), 'stages[0].steps[0]: must be a command or a mapping with a command, not a list'],
  ['step without a command', step({ title: 'x' }), 'stages[0].steps[0].command: required'],
  ['step command empty', step({ command: '' }), 'stages[0].steps[0].command: must not be empty'],
  ['step command with NUL', step({ command: 'a\0b' }), 'stages[0].steps[0].command: must not contain a NUL'],
  ['step command too long', step('x'.repeat(MAX_COMMAND_LENGTH + 1)), `stages[0].steps[0]: longer than ${MAX_COMMAND_LENGTH}`],
  ['step shorthand empty', step(''), 'stages[0].steps[0]: must not be empty'],
  ['step unknown field', step({ command: 'x', ignoreExitcode: true }), 'stages[0].steps[0].ignoreExitcode: unknown field (did you mean "ignoreExitCode"?)'],
  ['step ignoreExitCode a string', step({ command: 'x', ignoreExitCode: 'true' }), 'stages[0].steps[0].ignoreExitCode: must be true or false'],
  ['artefacts a string', job({ artefacts: 'dist/*' }), 'artefacts: must be a list, not text'],
  ['artefact absolute', job({ artefacts: ['/etc/passwd'] }), 'artefacts[0]: must be relative to the workspace'],
  ['artefact under home', job({ artefacts: ['~/x'] }), 'artefacts[0]: must be relative to the workspace'],
  ['artefact absolute in braces', job({ artefacts: ['{/etc,a}/x'] }), 'artefacts[0]: must be relative to the workspace'],
  ['artefact excluding an absolute path', job({ artefacts: ['!/etc/*'] }), 'artefacts[0]: must be relative to the workspace'],
  ['artefact excluding ..', job({ artefacts: ['!../x'] }), 'artefacts[0]: must not contain .. segments'],
  ['artefact excluding nothing', job({ artefacts: ['!'] }), 'artefacts[0]: must name files in the workspace'],
  ['param name CI', job({ params: { CI: 'false' } }), 'params.CI: CI is reserved'],
  ['artefact leaving by ..', job({ artefacts: ['../x'] }), 'artefacts[0]: must not contain .. segments'],
  ['artefact .. in the middle', job({ artefacts: ['a/../../b'] }), 'artefacts[0]: must not contain .. segments'],
  ['artefact .. at the end', job({ artefacts: ['a/..'] }), 'artefacts[0]: must not contain .. segments'],
  ['artefact .. in braces', job({ artefacts: ['{..,a}/x'] }), 'artefacts[0]: must not contain .. segments'],
  ['artefact .. in an extglob', job({ artefacts: ['@(..)/x'] }), 'artefacts[0]: must not contain .. segments'],
  ['artefact escaped ..', job({ artefacts: ['\\.\\./x'] }), 'artefacts[0]: must not contain .. segments'],
  ['artefact empty', job({ artefacts: [''] }), 'artefacts[0]: must name files in the workspace'],
  ['artefact the workspace', job({ artefacts: ['./'] }), 'artefacts[0]: must name files in the workspace'],
  ['artefact a number', job({ artefacts: [1] }), 'artefacts[0]: must be a glob pattern (text), not a number'],
  ['too many artefacts', job({ artefacts: Array.from({ length: MAX_ARTEFACTS + 1 }, (_, i) => `f${i}`) }), `artefacts: at most ${MAX_ARTEFACTS}`],
  ['a class instance', new Map([['name', 'j']]), ': a job must be a mapping'],
  ['bytes where text goes', job({ name: new Uint8Array([1]) }), 'name: must be text, not bytes']
]

describe('validateJobSpec: every rule, one problem each', () => {
  it.each(cases)('%s', (_what, raw, expected) => {
    const result = validateJobSpec(raw)
    expect(result.spec).toBeUndefined()
    const found = result.problems.map((p) => `${p.path}: ${p.message}`)
    expect(found).toHaveLength(1)
    expect(found[0].startsWith(expected), `got ${found[0]}`).toBe(true)
  })
})

describe('validateJobSpec: accepted values', () => {
  const ok: Array<[string, Record<string, unknown>, (spec: JobSpec) => unknown, unknown]> = [
    ['name with dots and dashes', job({ name: 'lib.foo_bar-1' }), (s) => s.name, 'lib.foo_bar-1'],
    ['negative priority', job({ priority: -5 }), (s) => s.priority, -5],
    ['timeout 90s', job({ timeout: '90s' }), (s) => s.timeoutMs, 90_000],
    ['timeout 1h30m', job({ timeout: '1h30m' }), (s) => s.timeoutMs, 5_400_000],
    ['timeout plain number is seconds', job({ timeout: 90 }), (s) => s.timeoutMs, 90_000],
    ['timeoutMs', job({ timeoutMs: 5000 }), (s) => s.timeoutMs, 5000],
    ['memory 512M', job({ requires: { memory: '512M' } }), (s) => s.requires.memoryBytes, 512 * 1024 ** 2],
    ['memory plain bytes', job({ requires: { memory: 4096 } }), (s) => s.requires.memoryBytes, 4096],
    ['supersede running', job({ supersede: 'running' }), (s) => s.supersede, 'running'],
    ['supersede none', job({ supersede: 'none' }), (s) => s.supersede, 'none'],
    ['param optional without default', job({ params: { OPT: {} } }), (s) => s.params.OPT, { required: false }],
    ['param names in lower case', job({ params: { path: 'x' } }), (s) => Object.keys(s.params), ['path']],
    ['artefact exclusions and extglobs', job({ artefacts: ['dist/**', '!./dist/*.map', '!(tmp)/*.log'] }), (s) => s.artefacts, ['dist/**', '!dist/*.map', '!(tmp)/*.log']],
    ['artefact with ..foo name (not a parent)', job({ artefacts: ['..foo/x', 'a..b'] }), (s) => s.artefacts, ['..foo/x', 'a..b']],
    ['ignoreExitCode', step({ command: 'false', ignoreExitCode: true }), (s) => s.stages[0].steps[0].ignoreExitCode, true]
  ]
  it.each(ok)('%s', (_what, raw, pick, expected) => {
    const { spec, problems } = validateJobSpec(raw)
    expect(problems).toEqual([])
    expect(pick(spec as JobSpec)).toStrictEqual(expected)
  })
})

describe('validateJobSpec: all problems at once', () => {
  it('reports every problem of a bad file, each by its path', () => {
    const raw = {
      name: 'a/b',
      timeout: 'soon',
      requires: { memory: 'big' },
      supersede: 'always',
      stages: [
        { steps: ['ok'] },
        { stepz: [], steps: [{ title: 'x' }, 'fine', { command: 'y', extra: 1 }] }
      ]
    }
    expect(lines(raw)).toEqual([
      'name: must be 1 to 128 letters, digits, \'.\', \'_\' or \'-\', not starting with \'.\' or \'-\' (it names the job\'s workspace directory)',
      'timeout: not a duration (use e.g. 90s, 20m, 2h)',
      'requires.memory: not a size (use e.g. 512M, 2G, 1.5G; a plain number is bytes)',
      'supersede: must be one of waiting, running, none',
      'stages[1].stepz: unknown field (did you mean "steps"?)',
      'stages[1].steps[0].command: required',
      'stages[1].steps[2].extra: unknown field'
    ])
  })

  it('caps the list and says how many were left out', () => {
    const steps = Array.from({ length: MAX_STEPS_PER_STAGE }, () => ({ bad: 1 }))
    const { problems } = validateJobSpec(job({ stages: [{ steps }] }))
    expect(problems).toHaveLength(MAX_PROBLEMS + 1)
    expect(problems[MAX_PROBLEMS].message).toMatch(/^\d+ more problems not listed/)
  })

  it('a __proto__ field from JSON is an unknown field, never a prototype', () => {
    const raw = JSON.parse('{"name":"j","stages":[{"steps":["x"]}],"params":{"__proto__":{"default":"x"}},"__proto__":{"cache":true}}')
    expect(lines(raw).sort()).toEqual(['__proto__: unknown field', 'params.__proto__: __proto__ is reserved (the runner or the shell sets it)'])
  })

  it('never throws on odd values', () => {
    const odd: unknown[] = [undefined, 0, 'x', true, [], {}, Symbol('s'), () => 1, 10n, new Date(), Object.create(null),
      job({ stages: [null] }), job({ stages: [{ steps: [null, [], {}] }] }), job({ params: { A: { default: 10n } } })]
    for (const raw of odd) {
      const result = validateJobSpec(raw)
      expect(result.spec).toBeUndefined()
      expect(result.problems.length).toBeGreaterThan(0)
    }
  })
})
