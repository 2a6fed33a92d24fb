import { parseJobFile } from '../protocols/job/parse.js'
import type { JobSpec } from '../protocols/job/types.js'

/**
 * A job spec from job-file YAML, parsed and validated exactly as `cit-node submit` does before
 * it posts the spec to the daemon.
 */
export function jobSpec (yaml: string): JobSpec {
  const { spec, problems } = parseJobFile(yaml, { filename: 'bench.yaml' })
  if (spec == null || problems.length > 0) {
    throw new Error(`bench job does not validate: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`)
  }
  return spec
}

/** a one-step job; `supersede: none` so that back-to-back submissions never replace each other */
export function oneStep (name: string, command: string, extra: { cache?: boolean, artefacts?: string[], timeout?: string, labels?: string[] } = {}): JobSpec {
  const lines = [
    `name: ${name}`,
    'supersede: none',
    `timeout: ${extra.timeout ?? '10m'}`,
    ...(extra.cache === true ? ['cache: true'] : []),
    ...(extra.artefacts != null ? [`artefacts: ${JSON.stringify(extra.artefacts)}`] : []),
    ...(extra.labels != null ? [`requires: { labels: ${JSON.stringify(extra.labels)} }`] : []),
    'stages:',
    '  - steps:',
    `      - command: ${JSON.stringify(command)}`
  ]
  return jobSpec(lines.join('\n') + '\n')
}

/** the command of the log figure: `bytes` of `x`, folded into lines of 100 */
export function logCommand (bytes: number): string {
  return `head -c ${bytes} /dev/zero | tr '\\0' 'x' | fold -w 100`
}

/** what logCommand prints: the bytes plus one newline per 100 */
export function logPayloadBytes (bytes: number): number {
  return bytes + Math.ceil(bytes / 100)
}
