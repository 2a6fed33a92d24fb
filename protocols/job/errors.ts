import type { Problem } from './types.js'

/**
 * A job file (or a job spec received from a peer) that cannot be used. Carries
 * every problem found, each named by its field, so a caller can list them all.
 * Callers match on `code`, never on the message.
 */
export class JobFileError extends Error {
  readonly code = 'ERR_JOB_FILE'
  readonly problems: Problem[]

  constructor (problems: Problem[], options?: { filename?: string, cause?: unknown }) {
    super(summarise(problems, options?.filename), { cause: options?.cause })
    this.name = 'JobFileError'
    this.problems = problems
  }
}

/**
 * One line for a person: `build.yaml:12:9: stages[0].steps[1].command: required`.
 * The filename and position are left out when unknown.
 */
export function formatProblem (problem: Problem, filename?: string): string {
  let where = filename ?? ''
  if (problem.line !== undefined) {
    where += `${where === '' ? 'line ' : ':'}${problem.line}`
    if (problem.column !== undefined) where += `:${problem.column}`
  }
  const parts = [where, problem.path, problem.message].filter((part) => part !== '')
  return parts.join(': ')
}

/** every problem, one per line, in the order found */
export function formatProblems (problems: Problem[], filename?: string): string {
  return problems.map((problem) => formatProblem(problem, filename)).join('\n')
}

function summarise (problems: Problem[], filename?: string): string {
  const subject = filename ?? 'job file'
  if (problems.length === 0) return `${subject} is not a valid job file`
  const first = formatProblem(problems[0], filename)
  if (problems.length === 1) return filename === undefined ? `${subject}: ${first}` : first
  const rest = `(and ${problems.length - 1} more problem${problems.length === 2 ? '' : 's'})`
  return filename === undefined ? `${subject}: ${first} ${rest}` : `${first} ${rest}`
}
