/**
 * Validation of the work itself: stages, their steps, and the hooks of the job
 * and of each stage.
 */
import { MAX_STAGES, MAX_STEPS_PER_STAGE } from './constants.js'
import {
  checkBoolean, checkCommand, checkKnownFields, checkList, checkMapping, checkTitle, field, kindOf, quoteHint
} from './check.js'
import { titleFromCommand } from './values.js'
import { singleQuoted } from './yaml-hints.js'
import type { Checker } from './check.js'
import type { Hooks, StageSpec, StepSpec } from './types.js'
import type { PathSegment } from './values.js'

/** in the order they run */
export const HOOK_NAMES = ['onStart', 'onSuccess', 'onFailure'] as const

const STAGE_FIELDS: readonly string[] = ['title', 'steps', ...HOOK_NAMES]
const STEP_FIELDS: readonly string[] = ['title', 'command', 'ignoreExitCode']

/** the hooks present on `obj`, each a checked command; absent hooks are left out, never undefined */
export function checkHooks (ck: Checker, obj: Record<string, unknown>, segments: PathSegment[]): Hooks {
  const hooks: Hooks = {}
  for (const name of HOOK_NAMES) {
    const value = field(obj, name)
    if (value === undefined) continue
    const command = checkCommand(ck, value, [...segments, name])
    if (command !== undefined) hooks[name] = command
  }
  return hooks
}

/** the `stages` list: at least one stage, each with at least one step */
export function checkStages (ck: Checker, value: unknown, segments: PathSegment[]): StageSpec[] {
  if (value === undefined) {
    ck.add(segments, 'required: a list of stages, each with steps')
    return []
  }
  const list = checkList(ck, value, segments)
  if (list === undefined) return []
  if (list.length === 0) ck.add(segments, 'must have at least one stage')
  if (list.length > MAX_STAGES) ck.add(segments, `at most ${MAX_STAGES} stages (has ${list.length})`)
  const stages: StageSpec[] = []
  // past the limit the rest is not looked at: a hostile spec must not cost unbounded work
  for (let i = 0; i < Math.min(list.length, MAX_STAGES); i++) {
    const stage = checkStage(ck, list[i], [...segments, i], i)
    if (stage !== undefined) stages.push(stage)
  }
  return stages
}

function checkStage (ck: Checker, value: unknown, segments: PathSegment[], index: number): StageSpec | undefined {
  const obj = checkMapping(ck, value, segments)
  if (obj === undefined) return undefined
  checkKnownFields(ck, obj, segments, STAGE_FIELDS)
  const titleValue = field(obj, 'title')
  const title = titleValue === undefined ? `stage ${index + 1}` : checkTitle(ck, titleValue, [...segments, 'title'])
  const hooks = checkHooks(ck, obj, segments)
  const steps = checkSteps(ck, field(obj, 'steps'), [...segments, 'steps'])
  if (title === undefined) return undefined
  // hooks holds only the hooks given: absent ones stay absent, never undefined
  return { title, steps, ...hooks }
}

function checkSteps (ck: Checker, value: unknown, segments: PathSegment[]): StepSpec[] {
  if (value === undefined) {
    ck.add(segments, 'required: a list of steps')
    return []
  }
  const list = checkList(ck, value, segments)
  if (list === undefined) return []
  if (list.length === 0) ck.add(segments, 'must have at least one step')
  if (list.length > MAX_STEPS_PER_STAGE) ck.add(segments, `at most ${MAX_STEPS_PER_STAGE} steps in a stage (has ${list.length})`)
  const steps: StepSpec[] = []
  for (let i = 0; i < Math.min(list.length, MAX_STEPS_PER_STAGE); i++) {
    const step = checkStep(ck, list[i], [...segments, i])
    if (step !== undefined) steps.push(step)
  }
  return steps
}

/**
 * `- echo failed: see log` is a command to the person who wrote it, and a mapping of "echo failed"
 * to "see log" to YAML (": " makes a key). Such a step is one problem, said with its fix, not an
 * unknown field plus a missing command.
 */
function colonInCommand (obj: Record<string, unknown>): string | undefined {
  const keys = Object.keys(obj)
  if (keys.length !== 1 || STEP_FIELDS.includes(keys[0]) || !/\s/.test(keys[0].trim())) return undefined
  const value = obj[keys[0]]
  if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) return undefined
  const command = value === null ? `${keys[0]}:` : `${keys[0]}: ${String(value)}`
  return `a command containing ": " reads as a mapping (of ${JSON.stringify(keys[0])} to ${JSON.stringify(value)}): quote it whole, - ${singleQuoted(command)}`
}

function checkStep (ck: Checker, value: unknown, segments: PathSegment[]): StepSpec | undefined {
  if (typeof value === 'string') {
    // shorthand: the step is its command
    const command = checkCommand(ck, value, segments)
    return command === undefined ? undefined : { title: titleFromCommand(command), command, ignoreExitCode: false }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    ck.add(segments, `must be a command or a mapping with a command, not ${kindOf(value)}${quoteHint(value)}`)
    return undefined
  }
  const obj = checkMapping(ck, value, segments)
  if (obj === undefined) return undefined
  const misread = colonInCommand(obj)
  if (misread !== undefined) {
    ck.add(segments, misread)
    return undefined
  }
  checkKnownFields(ck, obj, segments, STEP_FIELDS)
  const commandValue = field(obj, 'command')
  let command: string | undefined
  if (commandValue === undefined) ck.add([...segments, 'command'], 'required')
  else command = checkCommand(ck, commandValue, [...segments, 'command'])
  const titleValue = field(obj, 'title')
  const title = titleValue === undefined
    ? (command === undefined ? undefined : titleFromCommand(command))
    : checkTitle(ck, titleValue, [...segments, 'title'])
  const ignoreValue = field(obj, 'ignoreExitCode')
  const ignoreExitCode = ignoreValue === undefined ? false : checkBoolean(ck, ignoreValue, [...segments, 'ignoreExitCode'])
  if (command === undefined || title === undefined || ignoreExitCode === undefined) return undefined
  return { title, command, ignoreExitCode }
}
