import { beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml, stringify as yamlStringify } from 'yaml'
import { decodeCbor, encodeCbor } from '../../protocols/codec/index.js'
import { validateAnnouncement, validateEvent, validateJobSpec, MAX_JOB_FILE_BYTES } from '../../protocols/job/index.js'
import { parseJobFile } from '../../protocols/job/parse.js'
import { validateLoadReport } from '../../protocols/load/index.js'
import { mutateBytes, mutateText, mutateValue, randomString, randomValue, yamlSoup } from './gen.js'
import { fuzz, label, report, SEED, timeLimit } from './harness.js'
import { makeSamples } from './samples.js'
import type { Prng } from './prng.js'
import type { Samples } from './samples.js'

let s: Samples
let rawSpecs: unknown[]

beforeAll(async () => {
  s = await makeSamples()
  rawSpecs = s.jobFiles.map(text => parseYaml(text))
  console.log(`[fuzz] seed ${SEED} (set CIT_FUZZ_SEED=${SEED} to replay this run)`)
})

/** a job file's text: mutated examples, YAML soup, mutated values written as YAML or JSON, random text */
function jobText (rng: Prng): { text: string, filename?: string } {
  const r = rng.int(100)
  if (r < 40) return { text: mutateText(rng, rng.pick(s.jobFiles)) }
  if (r < 55) return { text: yamlSoup(rng) }
  const value = rng.bool(0.85) ? mutateValue(rng, rng.pick(rawSpecs)) : randomValue(rng)
  try {
    if (r < 75) return { text: yamlStringify(value), filename: rng.bool(0.1) ? 'x.yaml' : undefined }
    if (r < 90) return { text: JSON.stringify(value) ?? 'null', filename: rng.bool(0.5) ? 'job.json' : undefined }
  } catch {}
  return { text: randomString(rng, rng.size(2000)) }
}

/** a payload as a peer's CBOR would deliver it: the sample changed as a value, or its bytes changed */
function wireValue (rng: Prng, samples: unknown[]): unknown {
  const base = rng.pick(samples)
  const r = rng.int(10)
  if (r < 6) return mutateValue(rng, base)
  if (r < 8) {
    try { return decodeCbor(mutateBytes(rng, encodeCbor(base)), 1 << 20) } catch { return mutateValue(rng, base) }
  }
  if (r < 9) return randomValue(rng)
  return base
}

/** a validator's verdict as a label; it must never throw and must say why when it refuses */
function verdict (r: { value?: unknown, problem?: string }): string {
  if (r.value != null) return 'accepted'
  if (typeof r.problem !== 'string' || r.problem === '') throw new Error('refused without a problem')
  return label(r.problem)
}

describe('fuzz: job files and job messages', () => {
  it('parseJobFile(): mutated and random YAML/JSON never throws; every refusal names its problem', async () => {
    const tally = await fuzz('job.parseJobFile', rng => {
      const { text, filename } = jobText(rng)
      const r = parseJobFile(text, { filename })
      if (r.spec != null) {
        if (r.problems.length > 0) throw new Error('a spec with problems')
        // what the parser accepts, the daemon's validator accepts too
        if (validateJobSpec(r.spec).problems.length > 0) throw new Error('parsed spec refused by validateJobSpec')
        return 'accepted'
      }
      if (r.problems.length === 0) throw new Error('no spec and no problem')
      for (const p of r.problems) {
        if (typeof p.path !== 'string' || typeof p.message !== 'string' || p.message === '') throw new Error(`a problem without a message: ${JSON.stringify(p)}`)
        // the parser's own safety net: an exception it caught is a bug, not bad input
        if (p.message.startsWith('cannot parse the job file')) throw new Error(p.message)
      }
      return label(r.problems[0].message)
    })
    expect(tally.reasons.accepted).toBeGreaterThan(0)
    expect(Object.keys(tally.reasons).length).toBeGreaterThan(10)
  }, timeLimit(180_000))

  it('hostile job files are refused quickly: alias bomb, deep nesting, too many values, over the size limit', () => {
    const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for (let i = 1; i < 12; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`)
    const hostile: Record<string, string> = {
      'alias bomb': laughs.join('\n') + '\nname: x\n',
      'deep flow nesting': '['.repeat(100_000) + ']'.repeat(100_000),
      'deep block nesting': Array.from({ length: 1200 }, (_, i) => ' '.repeat(i) + '- ').join('\n') + 'x\n',
      'deep compact lists': '- '.repeat(100_000) + 'x\n',
      'deep mapping nesting': Array.from({ length: 1200 }, (_, i) => ' '.repeat(i) + 'a:').join('\n') + ' x\n',
      'deep JSON nesting': '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000),
      '250,000 tiny values (1 MiB of `- {}`)': 'name: x\nstages:\n' + '- {}\n'.repeat(250_000).slice(0, MAX_JOB_FILE_BYTES - 32),
      'over the size limit': 'name: x\n#' + 'x'.repeat(MAX_JOB_FILE_BYTES),
      'self-referencing alias': 'a: &a [*a]\nname: x\n'
    }
    const figures: Record<string, { ms: number, cpuMs: number, problem: string }> = {}
    for (const [what, text] of Object.entries(hostile)) {
      const t0 = performance.now()
      const c0 = process.cpuUsage()
      const r = parseJobFile(text)
      const c = process.cpuUsage(c0)
      const cpuMs = Math.round((c.user + c.system) / 1000)
      figures[what] = { ms: Math.round(performance.now() - t0), cpuMs, problem: r.problems[0]?.message.slice(0, 80) ?? '' }
      expect(r.spec, what).toBeUndefined()
      expect(r.problems.length, what).toBeGreaterThan(0)
      expect(r.problems[0].message, what).not.toMatch(/^cannot parse the job file/)
      // the work it costs, whatever else the machine is doing: ~0.5 s for the worst (1 MiB of `- {}`)
      expect(cpuMs, what).toBeLessThan(2000)
    }
    report('hostile-job-files', figures)
  })

  it('validateAnnouncement(): mutated announcements never throw; refusals say why', async () => {
    const tally = await fuzz('job.validateAnnouncement', rng => {
      const raw = rng.bool(0.2) ? { ...s.announcement, spec: mutateValue(rng, rng.pick(rawSpecs)) } : wireValue(rng, [s.announcement])
      return verdict(validateAnnouncement(raw))
    })
    expect(tally.reasons.accepted).toBeGreaterThan(0)
  }, timeLimit(120_000))

  it('validateEvent(): mutated events never throw; refusals say why', async () => {
    const tally = await fuzz('job.validateEvent', rng => verdict(validateEvent(wireValue(rng, s.events))))
    expect(tally.reasons.accepted).toBeGreaterThan(0)
  }, timeLimit(120_000))

  it('validateLoadReport(): mutated load reports never throw; refusals say why', async () => {
    const tally = await fuzz('load.validateLoadReport', rng => verdict(validateLoadReport(wireValue(rng, [s.load]))))
    expect(tally.reasons.accepted).toBeGreaterThan(0)
  }, timeLimit(120_000))
})
