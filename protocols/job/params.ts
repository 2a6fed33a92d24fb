/**
 * Parameter values: `--param K=V` overrides from a submitter, and their
 * resolution against the params a job declares. The resolved values become
 * environment variables of every step and hook.
 */
import { isPlainObject, kindOf } from './check.js'
import { paramNameProblem, paramValueProblem } from './validate-fields.js'
import type { JobSpec, Problem } from './types.js'

export interface ParamValues {
  values: Record<string, string>
  problems: Problem[]
}

/**
 * Reads `--param` arguments, each `NAME=VALUE` (the value may contain `=` and
 * may be empty). A name given twice is a problem, not a silent override.
 */
export function parseParamOverrides (args: string[]): ParamValues {
  const values = new Map<string, string>()
  const problems: Problem[] = []
  for (const arg of args) {
    const eq = typeof arg === 'string' ? arg.indexOf('=') : -1
    if (eq <= 0) {
      problems.push({ path: '--param', message: `expected NAME=VALUE, got ${JSON.stringify(String(arg))}` })
      continue
    }
    const name = arg.slice(0, eq)
    const value = arg.slice(eq + 1)
    const path = `--param ${name}`
    const problem = paramNameProblem(name) ?? paramValueProblem(value)
    if (problem !== undefined) problems.push({ path, message: problem })
    else if (values.has(name)) problems.push({ path, message: 'given more than once' })
    else values.set(name, value)
  }
  return { values: Object.fromEntries(values), problems }
}

/**
 * The value of every declared param: the override when given, else the
 * default. A required param without a value and an override the job does not
 * declare are problems. An optional param with no default and no override is
 * left out (its variable is not set). `overrides` may come from a peer, so its
 * shape is checked too.
 */
export function resolveParams (spec: JobSpec, overrides: Record<string, string>): ParamValues {
  const problems: Problem[] = []
  if (!isPlainObject(overrides)) {
    return { values: {}, problems: [{ path: 'params', message: `overrides must be a mapping, not ${kindOf(overrides)}` }] }
  }
  const declared = Object.keys(spec.params)
  for (const name of Object.keys(overrides)) {
    if (Object.hasOwn(spec.params, name)) continue
    const known = declared.length === 0 ? 'this job declares no params' : `this job declares ${declared.join(', ')}`
    problems.push({ path: `params.${name}`, message: `unknown param (${known})` })
  }
  const values: Array<[string, string]> = []
  for (const name of declared) {
    const param = spec.params[name]
    if (Object.hasOwn(overrides, name)) {
      const value: unknown = overrides[name]
      const problem = typeof value === 'string' ? paramValueProblem(value) : `must be text, not ${kindOf(value)}`
      if (problem === undefined) values.push([name, value as string])
      else problems.push({ path: `params.${name}`, message: problem })
    } else if (param.default !== undefined) {
      values.push([name, param.default])
    } else if (param.required) {
      problems.push({ path: `params.${name}`, message: `required, give --param ${name}=...` })
    }
  }
  return { values: Object.fromEntries(values), problems }
}
