import { readFile } from 'node:fs/promises'
import { formatProblem, parseParamOverrides, resolveParams } from '../protocols/job/index.js'
import { parseJobFile } from '../protocols/job/parse.js'
import { CliError } from './errors.js'
import type { JobSpec } from '../protocols/job/types.js'

export interface LoadedJob {
  spec: JobSpec
  /** the overrides as given (the daemon resolves them again against the spec) */
  overrides: Record<string, string>
  /** the resolved values */
  params: Record<string, string>
}

/**
 * Read, parse and validate a job file with `--param` overrides. Every problem is reported,
 * each named by its field, and nothing is submitted (exit 2).
 */
export async function loadJob (file: string, paramArgs: string[]): Promise<LoadedJob> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err: any) {
    throw new CliError('ERR_JOB_FILE', `cannot read ${file}: ${String(err?.code ?? err?.message)}`)
  }
  const parsed = parseJobFile(text, { filename: file })
  const overrides = parseParamOverrides(paramArgs)
  const problems = [...parsed.problems, ...overrides.problems]
  if (parsed.spec != null && problems.length === 0) {
    const resolved = resolveParams(parsed.spec, overrides.values)
    problems.push(...resolved.problems)
    if (problems.length === 0) return { spec: parsed.spec, overrides: overrides.values, params: resolved.values }
  }
  throw new CliError('ERR_JOB_FILE', `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
    problems.map(p => formatProblem(p, file)))
}
